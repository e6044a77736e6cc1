"""Issue 6, the `schedule` commands as real processes: add (validation, next runs), list/show (no
secrets), pause/resume/remove, one-line errors, and the Kubernetes export parsed as YAML."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml

from tests.conftest import run_cli

HOOK = "https://hooks.example.com/services/T000/B000/sekrit-token"


def _one_error_line(res, code: int) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cli-recover: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0].removeprefix("cli-recover: error: ")


def _add(name, *extra, cron="30 2 * * *", backup=None, tz="Europe/Berlin"):
    backup = backup or ["backup", "filesystem", "--local", os.getcwd()]
    return run_cli("schedule", "add", name, "--cron", cron, "--timezone", tz, *extra, "--", *backup)


def test_add_prints_the_next_runs_and_stores_a_private_json_file(data_home, tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    monkeypatch.chdir(tmp_path)
    res = _add("nightly", "--keep-last", "3", "--keep-daily", "7", "--notify", HOOK, "--notify",
               "logger --token t0ps3cret x", backup=["backup", "filesystem", "--loc", "src", "--compression", "lz4"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "added schedule nightly: daily at 02:30 (Europe/Berlin)"
    assert lines[1] == "next runs:" and len(lines) == 7
    assert all(ln.strip().endswith(("02:30 CET", "02:30 CEST")) for ln in lines[2:])
    assert "no scheduler is running" in res.stderr
    path = data_home / "schedules" / "nightly.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    # abbreviations spelled out, relative paths made absolute: the scheduler runs from elsewhere
    assert stored["backup"] == ["backup", "filesystem", "--local", str(src), "--compression", "lz4"]
    assert stored["keep"] == {"last": 3, "daily": 7} and stored["notify"][0] == HOOK
    assert stored["job"]["target"] == {"kind": "local", "path": str(src)}


def test_list_and_show_redact_secrets(tmp_path):
    assert _add("nightly", "--notify", HOOK, "--notify", "notify-ops --token t0ps3cret").returncode == 0
    assert _add("hourly", cron="@hourly", tz="UTC").returncode == 0
    for args in (["schedule", "list"], ["schedule", "list", "-o", "json"], ["schedule", "list", "-o", "yaml"],
                 ["schedule", "show", "nightly"], ["schedule", "show", "nightly", "-o", "json"]):
        res = run_cli(*args)
        assert res.returncode == 0, res.stderr
        assert "sekrit" not in res.stdout and "t0ps3cret" not in res.stdout and "T000" not in res.stdout, args
    table = run_cli("schedule", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "CRON", "DESCRIPTION", "TZ", "NEXT", "RUN", "LAST", "RESULT"]
    assert table[1].startswith("hourly") and "every hour at :00" in table[1] and table[1].rstrip().endswith("-")
    assert table[2].startswith("nightly") and "daily at 02:30" in table[2] and "Europe/Berlin" in table[2]
    data = json.loads(run_cli("schedule", "list", "-o", "json").stdout)
    assert [d["name"] for d in data] == ["hourly", "nightly"]
    assert data[1]["notify"][0] == "https://hooks.example.com/***"
    assert data[1]["next_run"].endswith(("T02:30:00+01:00", "T02:30:00+02:00"))
    shown = yaml.safe_load(run_cli("schedule", "list", "-o", "yaml").stdout)
    assert shown[0]["description"] == "every hour at :00"
    detail = run_cli("schedule", "show", "nightly").stdout
    assert "Cron:        30 2 * * *  (daily at 02:30)" in detail
    assert "Notify:      https://hooks.example.com/***, notify-ops --token '***' (on failure)" in detail
    assert detail.count("02:30 CE") == 5  # the next five runs


def test_pause_resume_remove(tmp_path):
    assert _add("nightly").returncode == 0
    assert run_cli("schedule", "pause", "nightly").stdout.strip() == "schedule nightly is now paused"
    assert run_cli("schedule", "pause", "nightly").stdout.strip() == "schedule nightly was already paused"
    assert "paused" in run_cli("schedule", "list").stdout.splitlines()[1]
    assert json.loads(run_cli("schedule", "show", "nightly", "-o", "json").stdout)["next_run"] is None
    res = run_cli("schedule", "resume", "nightly")
    assert res.returncode == 0 and res.stdout.startswith("schedule nightly is now active; next run 20")
    res = run_cli("schedule", "remove", "nightly")
    assert res.returncode == 0 and "removed schedule nightly" in res.stdout
    assert run_cli("schedule", "list").stdout.startswith("no schedules")


@pytest.mark.parametrize("args, code, expected", [
    (["--cron", "61 * * * *"], 2, "bad minute field '61' in '61 * * * *': allowed 0-59"),
    (["--cron", "0 0 * * 9"], 2, "bad day-of-week field '9'"),
    (["--cron", "0 0 30 2 *"], 2, "never matches a date"),
    (["--cron", "* * *"], 2, "has 3 fields; expected 5"),
    (["--cron", "@daily", "--timezone", "Mars/Base"], 2, "unknown time zone 'Mars/Base'"),
    (["--cron", "@daily", "--keep-last", "-1"], 2, "--keep-last must be 0 or more"),
    (["--cron", "@daily", "--notify", "https:///nohost"], 2, "has no host"),
])
def test_bad_input_is_one_line(args, code, expected):
    res = run_cli("schedule", "add", "x", *args, "--", "backup", "filesystem", "--local", "/tmp")
    assert expected in _one_error_line(res, code)


@pytest.mark.parametrize("backup, expected", [
    ([], "give the backup a schedule runs after --"),
    (["restore", "filesystem", "--local", "/tmp/a.tar"], "must start with 'backup'"),
    (["backup", "nosuch", "--local", "/tmp"], "invalid choice: 'nosuch'"),
    (["backup", "filesystem", "--local", "/tmp", "--bogus"], "unrecognized arguments: --bogus"),
    (["backup", "filesystem"], "say what to back up"),
    (["backup", "filesystem", "--local", "/tmp", "--background"], "leave --background out"),
    (["backup", "filesystem", "--local", "/tmp", "-o", "/nonexistent/x.tar"], "must be an existing folder"),
    (["backup", "filesystem", "--help"], "only asked for help"),
])
def test_bad_backup_arguments_are_refused_at_add_time(backup, expected):
    res = run_cli("schedule", "add", "x", "--cron", "@daily", "--", *backup)
    assert expected in _one_error_line(res, 2)
    assert run_cli("schedule", "list").stdout.startswith("no schedules")


def test_duplicate_unknown_and_bad_names():
    assert _add("nightly").returncode == 0
    assert "a schedule named 'nightly' already exists" in _one_error_line(_add("nightly"), 2)
    assert "bad schedule name 'Bad_Name'" in _one_error_line(_add("Bad_Name"), 2)
    for verb in ("show", "remove", "pause", "resume", "run"):
        assert _one_error_line(run_cli("schedule", verb, "nope"), 1) == \
            "no schedule 'nope' (see: cli-recover schedule list)"
    assert "choose what to export to: --kubernetes" in _one_error_line(run_cli("schedule", "export", "nightly"), 2)
    res = run_cli("schedule", "export", "nightly", "--kubernetes")
    assert "backs up a path on this host (--local)" in _one_error_line(res, 2)


# --- export -------------------------------------------------------------------------------------

POD_BACKUP = ["backup", "filesystem", "web-0", "/var/www", "-n", "shop", "--context", "prod", "--kubeconfig",
              "/home/me/.kube/config", "-c", "nginx", "--compression", "gzip", "--level", "6"]


def _export(*args) -> list[dict]:
    res = run_cli("schedule", "export", "web", "--kubernetes", *args)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("# cli-recover schedule 'web'")
    return list(yaml.safe_load_all(res.stdout))


def _by_kind(docs) -> dict:
    return {d["kind"]: d for d in docs}


def test_export_cronjob_with_least_rbac_and_a_pvc():
    assert _add("web", "--keep-last", "5", cron="15 3 * * *", backup=POD_BACKUP).returncode == 0
    docs = _export("--image", "registry.example/cli-recover:1.0")
    kinds = _by_kind(docs)
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap",
                                        "PersistentVolumeClaim", "CronJob"]
    assert {d["metadata"]["namespace"] for d in docs} == {"shop"}
    cron = kinds["CronJob"]
    assert cron["apiVersion"] == "batch/v1" and cron["metadata"]["name"] == "cli-recover-web"
    spec = cron["spec"]
    assert spec["schedule"] == "15 3 * * *" and spec["timeZone"] == "Europe/Berlin"
    assert spec["concurrencyPolicy"] == "Forbid" and spec["suspend"] is False
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "cli-recover-web" and pod["restartPolicy"] == "Never"
    backup = pod["initContainers"][0]
    assert backup["image"] == "registry.example/cli-recover:1.0" and backup["command"] == ["cli-recover"]
    # the same backup, minus what only exists on this machine, with the namespace made explicit
    assert backup["args"] == ["backup", "filesystem", "web-0", "/var/www", "-c", "nginx", "--compression", "gzip",
                              "--level", "6", "-n", "shop", "-q"]
    env = {e["name"]: e["value"] for e in backup["env"]}
    assert env == {"CLI_RECOVER_HOME": "/var/lib/cli-recover", "KUBECONFIG": "/etc/cli-recover/kubeconfig"}
    assert pod["containers"][0]["args"] == ["cleanup", "--type", "backups", "--older-than", "0", "--keep-last", "5"]
    claim = kinds["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "cli-recover-web-archives"
    assert {"name": "archives", "persistentVolumeClaim": {"claimName": "cli-recover-web-archives"}} in pod["volumes"]
    assert kinds["Role"]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": ["web-0"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "resourceNames": ["web-0"], "verbs": ["create", "get"]},
    ]
    binding = kinds["RoleBinding"]
    assert binding["roleRef"]["name"] == "cli-recover-web"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cli-recover-web", "namespace": "shop"}]
    kubeconfig = yaml.safe_load(kinds["ConfigMap"]["data"]["kubeconfig"])
    assert kubeconfig["users"][0]["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}
    assert kubeconfig["contexts"][0]["context"]["namespace"] == "shop"


def test_export_to_an_existing_pvc_or_object_storage():
    assert _add("web", cron="@daily", tz="UTC", backup=POD_BACKUP).returncode == 0
    docs = _export("--pvc", "backups", "-n", "other")
    kinds = _by_kind(docs)
    assert "PersistentVolumeClaim" not in kinds and {d["metadata"]["namespace"] for d in docs} == {"other"}
    pod = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "initContainers" not in pod and pod["containers"][0]["name"] == "backup"
    assert kinds["CronJob"]["spec"]["schedule"] == "@daily" and kinds["CronJob"]["spec"]["timeZone"] == "UTC"
    assert {"name": "archives", "persistentVolumeClaim": {"claimName": "backups"}} in pod["volumes"]

    kinds = _by_kind(_export("--s3-url", "https://minio.example:9000/archive/web"))
    assert "PersistentVolumeClaim" not in kinds
    pod = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    upload = pod["containers"][0]
    assert upload["args"] == ["s3", "cp", "/var/lib/cli-recover/backups/", "s3://archive/web/", "--recursive",
                              "--endpoint-url", "https://minio.example:9000"]
    assert upload["envFrom"] == [{"secretRef": {"name": "cli-recover-web-s3"}}]
    assert {"name": "archives", "emptyDir": {}} in pod["volumes"]
    res = run_cli("schedule", "export", "web", "--kubernetes", "--s3-url", "s3://key:secret@bucket/x")
    assert "credentials go in the Secret" in _one_error_line(res, 2)


def test_a_hand_edited_broken_file_is_shown_not_a_traceback(data_home):
    assert _add("ok", cron="@daily").returncode == 0
    assert _add("broken", cron="@daily").returncode == 0
    path = data_home / "schedules" / "broken.json"
    path.write_text(path.read_text().replace('"cron": "@daily"', '"cron": "99 * * * *"'))
    (data_home / "schedules" / "junk.json").write_text("{not json")
    res = run_cli("schedule", "list")
    assert res.returncode == 0 and "Traceback" not in res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert set(rows) == {"ok", "broken"} and "invalid" in rows["broken"]
    assert "junk.json is unreadable" in res.stderr
    res = run_cli("schedule", "show", "broken")
    assert res.returncode == 0 and "Problem:     bad minute field '99'" in res.stdout
    assert "is unreadable" in _one_error_line(run_cli("schedule", "show", "junk"), 1)


def test_export_refuses_what_a_cronjob_cannot_express():
    assert _add("web", cron="0 3 L * *", backup=POD_BACKUP).returncode == 0
    res = run_cli("schedule", "export", "web", "--kubernetes")
    assert "uses L or #, which Kubernetes CronJobs do not support" in _one_error_line(res, 2)
    assert _add("jul", cron="0 3 1 JUL *", backup=POD_BACKUP).returncode == 0  # a month name is fine
    docs = list(yaml.safe_load_all(run_cli("schedule", "export", "jul", "--kubernetes").stdout))
    assert docs[-1]["spec"]["schedule"] == "0 3 1 JUL *"
