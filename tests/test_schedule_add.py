"""Issue 11, making a schedule: one check for the CLI and the app (engine.schedules.add), one view for
`schedule list` and the app's screen, and the full target (kubeconfig file and context) stored when a
schedule is made, so it backs up the same cluster when it fires (real sandbox, real jobs)."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from cli_recover.engine import schedules as sched
from cli_recover.engine.schedules import add
from cli_recover.engine.store import JobStore
from cli_recover.errors import RecoverError, UsageError
from cli_recover.kube.sandbox import make_pod, serve
from tests.conftest import run_cli
from tests.jobs_helpers import record, wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(root, "default", "web-0", {"containers": [{"name": "web"}]}, {"www/index.html": "made at add time\n"})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


@pytest.fixture
def kubeconfig(cluster, tmp_path):
    """A private copy of the sandbox kubeconfig (the tests change its current-context)."""
    path = tmp_path / "kube" / "config"
    path.parent.mkdir()
    shutil.copy(cluster.kubeconfig_path, path)
    return path


def set_current(path: Path, context: str) -> None:
    doc = yaml.safe_load(path.read_text())
    doc["current-context"] = context
    path.write_text(yaml.safe_dump(doc))


def no_kube_env(tmp_path) -> dict:
    """What the scheduler may well see when the schedule fires: no KUBECONFIG, no ~/.kube/config."""
    home = tmp_path / "elsewhere"
    home.mkdir(exist_ok=True)
    return {"KUBECONFIG": str(home / "no-such-kubeconfig"), "HOME": str(home)}


def run_and_wait(name: str, env: dict) -> dict:
    res = run_cli("schedule", "run", name, env=env)
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip().splitlines()[-1]
    wait_for(lambda: record(job_id)["state"] in ("succeeded", "failed", "cancelled"), timeout=90, what="the run")
    return record(job_id)


def members(archive: str) -> dict[str, bytes]:
    import zstandard

    with open(archive, "rb") as f, zstandard.ZstdDecompressor().stream_reader(f) as raw, \
            tarfile.open(fileobj=raw, mode="r|") as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar if m.isfile()}


# --- the grammar ----------------------------------------------------------------------------------


def test_the_engine_backup_grammar_is_the_clis():
    """The schedule's backup is parsed without cli/; it must accept exactly what `backup PROVIDER` does."""
    from cli_recover.cli.main import build_parser

    def provider_parser(parser, *path):
        import argparse

        for word in path:
            parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[word]
        return parser

    for provider in ("filesystem",):
        cli = provider_parser(build_parser(["backup", provider]), "backup", provider)
        eng = provider_parser(add.backup_parser(provider), "backup", provider)
        shape = {a.dest: (tuple(a.option_strings), a.nargs, a.choices, a.type.__name__ if a.type else None,
                          type(a).__name__) for a in cli._actions if a.dest != "help"}
        mine = {a.dest: (tuple(a.option_strings), a.nargs, a.choices, a.type.__name__ if a.type else None,
                         type(a).__name__) for a in eng._actions if a.dest != "help"}
        assert mine == shape


@pytest.mark.parametrize("backup, expected", [
    (["backup", "filesystem", "web-0", "www"], "the path in pod web-0 must be absolute"),
    (["backup", "filesystem", "web-0", "./www"], "must be absolute"),
    (["backup", "filesystem", "--local", "/tmp", "--level", "high"], "argument --level: invalid int value"),
    (["backup", "filesystem", "--local", "/tmp", "--compression", "xz"], "invalid choice: 'xz'"),
    (["backup", "filesystem", "--local", "/tmp", "--exec-timeout", "nan"], "argument --exec-timeout"),
    (["backup", "filesystem", "web-0", "/www", "-n", ""], "argument -n/--namespace: empty value"),
    (["backup", "filesystem", "--local", "/tmp", "--dry-run"], "leave --dry-run out"),
])
def test_a_relative_pod_path_or_bad_options_are_refused_at_add_time(backup, expected, kubeconfig):
    with pytest.raises(UsageError) as exc:
        add.validate_backup(backup, kubeconfig=str(kubeconfig))
    assert expected in str(exc.value) and "\n" not in str(exc.value)
    res = run_cli("schedule", "add", "x", "--cron", "@daily", "--", *backup, env={"KUBECONFIG": str(kubeconfig)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and expected in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert not sched.schedule_path("x").exists()


def test_without_any_kubeconfig_at_add_time_it_warns_and_keeps_what_it_can(tmp_path):
    """A schedule only meant for `schedule export --kubernetes` needs no kubeconfig here: a warning."""
    res = run_cli("schedule", "add", "web", "--cron", "@daily", "--", "backup", "filesystem", "web-0", "/www",
                  "--context", "prod", env=no_kube_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "cli-recover: warning: none of the files in KUBECONFIG exist" in res.stderr
    assert "runs use the kubeconfig and context current when they fire" in res.stderr
    target = sched.load("web")["job"]["target"]
    assert target["kubeconfig"] is None and target["context"] == "prod"
    assert sched.load("web")["backup"] == ["backup", "filesystem", "web-0", "/www", "--context", "prod"]


def test_several_kubeconfig_files_keep_the_context(kubeconfig, tmp_path, monkeypatch):
    other = tmp_path / "other-config"
    other.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "contexts": [], "clusters": [],
                                     "users": []}))
    monkeypatch.setenv("KUBECONFIG", f"{kubeconfig}{os.pathsep}{other}")
    warnings: list[str] = []
    argv, job = add.validate_backup(["backup", "filesystem", "web-0", "/www"], warnings)
    assert argv[-2:] == ["--context", "sandbox"] and "--kubeconfig" not in argv
    assert job["target"]["context"] == "sandbox" and job["target"]["kubeconfig"] is None
    assert len(warnings) == 1 and "KUBECONFIG names several files" in warnings[0]


# --- the full target ------------------------------------------------------------------------------


def test_a_cli_schedule_keeps_the_kubeconfig_and_context_it_was_made_with(kubeconfig, tmp_path):
    res = run_cli("schedule", "add", "web", "--cron", "@daily", "--timezone", "UTC", "--",
                  "backup", "filesystem", "web-0", "/www", env={"KUBECONFIG": str(kubeconfig)})
    assert res.returncode == 0, res.stderr
    stored = sched.load("web")
    assert stored["backup"] == ["backup", "filesystem", "web-0", "/www", "--kubeconfig", str(kubeconfig),
                                "--context", "sandbox"]
    assert stored["job"]["target"] == {"kind": "pod", "kubeconfig": str(kubeconfig), "context": "sandbox",
                                       "namespace": None, "pod": "web-0", "container": None, "path": "/www"}
    # when it fires: another context is current and KUBECONFIG points nowhere; it still reaches the cluster
    set_current(kubeconfig, "sandbox-viewer")  # a viewer may not exec: a run using it would fail
    rec = run_and_wait("web", no_kube_env(tmp_path))
    assert rec["state"] == "succeeded", rec.get("error")
    assert rec["schedule"] == "web" and rec["target"]["context"] == "sandbox"
    assert members(rec["archive"]) == {"index.html": b"made at add time\n"}


def test_flags_win_and_relative_kubeconfig_paths_are_made_absolute(kubeconfig, tmp_path, monkeypatch):
    monkeypatch.chdir(kubeconfig.parent)
    argv, job = add.validate_backup(["backup", "filesystem", "web-0", "/www", "--kubeconfig", "config",
                                     "--context", "sandbox-viewer"], kubeconfig="/elsewhere", context="sandbox")
    assert argv == ["backup", "filesystem", "web-0", "/www", "--kubeconfig", str(kubeconfig),
                    "--context", "sandbox-viewer"]
    assert job["target"]["kubeconfig"] == str(kubeconfig) and job["target"]["context"] == "sandbox-viewer"
    with pytest.raises(UsageError, match="unknown context 'nope'"):
        add.validate_backup(["backup", "filesystem", "web-0", "/www", "--context", "nope"],
                            kubeconfig=str(kubeconfig))


async def test_an_app_schedule_keeps_the_apps_cluster_and_runs_without_a_kubeconfig(kubeconfig, tmp_path):
    from cli_recover.tui.screens.schedules import ScheduleEditor, SchedulesScreen
    from tests.test_tui_jobs_support import ScreenHost, fixed_services, settle
    from tests.test_tui_jobs_support import wait_for as wait_ui

    set_current(kubeconfig, "sandbox-viewer")  # the file's current context is not the app's
    services = fixed_services(kubeconfig=str(kubeconfig), context="sandbox")
    app = ScreenHost(lambda: SchedulesScreen(services, refresh_seconds=3600, default_timezone="UTC"), services)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_ui(pilot, lambda: getattr(app.screen, "loaded", 0) > 0, what="the schedules")
        screen = app.screen
        await pilot.press("a")
        await wait_ui(pilot, lambda: isinstance(app.screen, ScheduleEditor), what="the editor")
        editor = app.screen
        for field, value in (("name", "web"), ("cron", "@daily"), ("backup", "filesystem web-0 www")):
            editor.query_one(f"#{field}").value = value
        await pilot.press("ctrl+s")
        await pilot.pause(0.05)
        assert "the path in pod web-0 must be absolute" in str(editor.query_one("#editor-error").content)
        editor.query_one("#backup").value = "filesystem web-0 /www"
        await pilot.press("ctrl+s")
        await wait_ui(pilot, lambda: app.screen is screen, what="the editor to close")
        await settle(pilot)
        view = screen.views["web"]
        assert view["target"]["context"] == "sandbox" and view["target"]["kubeconfig"] == str(kubeconfig)
    stored = sched.load("web")
    assert stored["backup"][-4:] == ["--kubeconfig", str(kubeconfig), "--context", "sandbox"]
    rec = run_and_wait("web", no_kube_env(tmp_path))  # the scheduler's environment knows no cluster
    assert rec["state"] == "succeeded", rec.get("error")
    assert members(rec["archive"]) == {"index.html": b"made at add time\n"}


# --- one view -------------------------------------------------------------------------------------


def test_schedule_list_prints_the_engines_view(kubeconfig, tmp_path):
    for name, backup in (("web", ["backup", "filesystem", "web-0", "/www"]),
                         ("docs", ["backup", "filesystem", "--local", str(tmp_path)])):
        res = run_cli("schedule", "add", name, "--cron", "30 2 * * *", "--timezone", "UTC", "--keep-last", "3",
                      "--", *backup, env={"KUBECONFIG": str(kubeconfig)})
        assert res.returncode == 0, res.stderr
    printed = json.loads(run_cli("schedule", "list", "-o", "json").stdout)
    import time

    views = sched.schedule_views(JobStore(), time.time())
    assert [v["name"] for v in printed] == [v["name"] for v in views] == ["docs", "web"]
    for p, v in zip(printed, views, strict=True):
        assert set(p) == set(v)
        assert {k: p[k] for k in ("cron", "description", "target", "retention", "last_result", "next_run")} == \
            {k: v[k] for k in ("cron", "description", "target", "retention", "last_result", "next_run")}
    assert printed[0]["target"] == {"kind": "local", "path": str(tmp_path)}
    assert printed[1]["target"]["pod"] == "web-0" and printed[1]["target"]["context"] == "sandbox"
    assert printed[0]["retention"] == {"keep": {"last": 3}, "last_applied": None, "kept": 0, "removed": 0}
    assert printed[0]["description"] == "daily at 02:30" and printed[0]["next_runs"] == [printed[0]["next_run"]]
    assert "job" not in printed[0]
    # an old-style definition (no job, made before targets were kept) is shown, not a traceback
    assert os.path.exists(sched.schedule_path("docs"))


# --- the typed file -------------------------------------------------------------------------------


def _write_raw(data: dict) -> Path:
    path = sched.schedule_path(data["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_files_carry_a_schema_version_and_old_files_without_it_are_read():
    s = sched.new_schedule("fresh", "@daily", "UTC", ["backup", "filesystem", "--local", "/srv"])
    sched.create(s)
    assert json.loads(sched.schedule_path("fresh").read_text())["v"] == sched.SCHEMA == 1
    # an early file: no "v", no "job", no "state", a pod target without kubeconfig, a key from elsewhere
    _write_raw({"name": "old", "cron": "0 3 * * *", "timezone": "UTC", "backup": ["backup", "filesystem", "--local",
                "/srv"], "note": "kept", "job": {"provider": "filesystem", "target": {"kind": "pod", "pod": "db-0",
                                                                                     "path": "/data"}}})
    old = sched.load("old")
    assert old["v"] == 1 and old["state"]["runs"] == 0 and old["state"]["pending"] == [] and old["note"] == "kept"
    assert old["job"]["target"]["kubeconfig"] is None and old["job"]["target"]["pod"] == "db-0"
    model = sched.Schedule.from_dict(old)
    assert isinstance(model.job.target, sched.Target) and model.job.target.path == "/data"
    sched.pause("old")  # a read-modify-write keeps what it does not know and writes the version
    again = json.loads(sched.schedule_path("old").read_text())
    assert again["v"] == 1 and again["note"] == "kept" and again["paused"] is True
    res = run_cli("schedule", "list")
    assert res.returncode == 0 and "old" in res.stdout and "fresh" in res.stdout, res.stderr


@pytest.mark.parametrize("change, expected", [
    ({"v": 2}, "was written by a newer cli-recover (schema version 2; this cli-recover reads up to 1)"),
    ({"v": "one"}, "'v' must be a positive whole number"),
    ({"paused": "yes"}, "'paused' must be true or false"),
    ({"state": {"runs": "many"}}, "'state.runs' must be a whole number"),
    ({"job": {"target": {"kind": "pod", "pod": 7}}}, "'job.target.pod' must be a string"),
    ({"job": {"target": {"pod": "db-0"}}}, "'job.target.kind' must be a string"),
    ({"notify": ["https://x", 3]}, "'notify' must hold only strings"),
])
def test_a_hand_edited_or_newer_file_is_one_line(change, expected):
    _write_raw({"name": "odd", "cron": "@daily", "backup": ["backup", "filesystem", "--local", "/srv"], **change})
    with pytest.raises(RecoverError) as exc:
        sched.load("odd")
    assert expected in str(exc.value) and "\n" not in str(exc.value)
    res = run_cli("schedule", "show", "odd")
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and expected in res.stderr, res.stderr
    listed = run_cli("schedule", "list")
    assert listed.returncode == 0 and expected in listed.stderr and "Traceback" not in listed.stderr


def test_show_names_the_cluster_a_pod_schedule_backs_up(kubeconfig):
    res = run_cli("schedule", "add", "web", "--cron", "@daily", "--", "backup", "filesystem", "web-0", "/www",
                  env={"KUBECONFIG": str(kubeconfig)})
    assert res.returncode == 0, res.stderr
    shown = run_cli("schedule", "show", "web").stdout
    assert f"Cluster:     context sandbox, kubeconfig {kubeconfig}" in shown


def test_checking_a_schedule_stays_headless(kubeconfig):
    import subprocess
    import sys

    code = ("import sys\nfrom cli_recover.engine.schedules import add\n"
            f"add.validate_backup(['backup', 'filesystem', 'web-0', '/www'], kubeconfig={str(kubeconfig)!r})\n"
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('textual', 'kubernetes')"
            " or m.startswith(('cli_recover.cli', 'cli_recover.tui'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
