"""Bad and odd input across the CLI: one `cli-recover: error:` line, a non-zero exit code, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli


def assert_one_line_error(proc, *fragments: str) -> None:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("cli-recover: error:")]
    assert len(errors) == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.mark.parametrize("argv", [
    ("backup", "filesystem", "--local", "SRC"),
    ("logs", "abc"),
    ("schedule", "list"),
    ("cleanup",),
])
def test_data_home_that_is_a_file(tmp_path, argv):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    (tmp_path / "src").mkdir()
    argv = [str(tmp_path / "src") if a == "SRC" else a for a in argv]
    proc = run_cli(*argv, env={"CLI_RECOVER_HOME": str(home)})
    assert_one_line_error(proc, "Not a directory", str(home))


def _finished_job(tmp_path) -> str:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    out = run_cli("backup", "filesystem", "--local", tmp_path / "src", "-o", tmp_path / "a.tar", "--compression",
                  "none", "--json", check=True)
    import json

    return json.loads(out.stdout)["job"]


@pytest.mark.parametrize("content", ["[]", "null", '"text"', '{"id": 5}'])
def test_job_record_that_is_json_but_not_a_record(tmp_path, data_home, content):
    job = _finished_job(tmp_path)
    (data_home / "history" / f"{job}.json").write_text(content)
    for argv in (("status", job), ("logs", job), ("cancel", job)):
        assert_one_line_error(run_cli(*argv), "not a valid job record")
    listing = run_cli("status")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert job in listing.stdout and "unreadable" in listing.stdout


@pytest.mark.parametrize(("edit", "problem"), [
    ({"backup": None}, "'backup'"),
    ({"keep": "x"}, "'keep'"),
    ({"keep": {"last": "x"}}, "'keep'"),
    ({"timezone": 5}, "'timezone'"),
    ({"state": []}, "'state'"),
    ({"state": {"pending": 5}}, "'state.pending'"),
])
def test_hand_edited_schedule_of_the_wrong_shape(tmp_path, data_home, edit, problem):
    import json

    (tmp_path / "src").mkdir()
    run_cli("schedule", "add", "n", "--cron", "@hourly", "--", "backup", "filesystem", "--local", tmp_path / "src",
            check=True)
    path = data_home / "schedules" / "n.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    for argv in (("schedule", "show", "n"), ("schedule", "run", "n"), ("schedule", "resume", "n")):
        assert_one_line_error(run_cli(*argv), "is not a cli-recover schedule", problem)
    listing = run_cli("schedule", "list")
    assert "Traceback" not in listing.stderr and problem in listing.stderr, listing.stderr


def _local_archive(tmp_path) -> tuple:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "a.txt").write_text("a")
    archive = tmp_path / "a.tar"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "--compression", "none", "-q", check=True)
    return archive, tmp_path / "a.tar.manifest.json"


@pytest.mark.parametrize(("edit", "problem"), [
    (None, "is not a cli-recover manifest"),                       # JSON null
    ({"format_version": "x"}, "'format_version'"),
    ({"codec": 1}, "'codec'"),
    ({"sha256": "x"}, "'sha256'"),
    ({"source": "y"}, "'source'"),
    ({"members": [1]}, "'members'"),
])
def test_hand_edited_manifest_of_the_wrong_shape(tmp_path, edit, problem):
    import json

    archive, manifest = _local_archive(tmp_path)
    data = None if edit is None else {**json.loads(manifest.read_text()), **edit}
    manifest.write_text(json.dumps(data))
    assert_one_line_error(run_cli("verify", archive), problem)
    assert_one_line_error(run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "out"),
                          problem)
    for fmt in ("table", "json"):
        listing = run_cli("list", "--dir", tmp_path, "-o", fmt)
        assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
        assert "bad manifest" in listing.stdout and "a.tar" in listing.stdout


def test_list_a_manifest_whose_source_has_no_target(tmp_path):
    import json

    archive, manifest = _local_archive(tmp_path)
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "source": {"target": None}, "created": 5}))
    listing = run_cli("list", "--dir", tmp_path)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    assert "a.tar" in listing.stdout


def test_verify_and_restore_a_fifo_fail_at_once(tmp_path):
    import os

    fifo = tmp_path / "a.tar"
    os.mkfifo(fifo)
    assert_one_line_error(run_cli("verify", fifo, timeout=20), "not a regular file")
    assert_one_line_error(run_cli("restore", "filesystem", "--local", fifo, "--target-path", tmp_path / "out",
                                  timeout=20), "not a regular file")
    assert not (tmp_path / "out").exists()
    assert_one_line_error(run_cli("verify", ""), "empty")


@pytest.mark.parametrize(("argv", "option"), [
    (("status", "--watch", "--interval", "nan"), "--interval"),
    (("status", "--watch", "--interval", "1e400"), "--interval"),
    (("status", "--watch", "--interval", "1e300"), "--interval"),
    (("cancel", "abc", "--timeout", "nan"), "--timeout"),
    (("cancel", "abc", "--timeout", "-5"), "--timeout"),
    (("scheduler", "start", "--tick", "nan"), "--tick"),
    (("scheduler", "start", "--tick", "inf"), "--tick"),
    (("scheduler", "stop", "--timeout", "inf"), "--timeout"),
    (("compare-compression", ".", "--bandwidth", "nan"), "--bandwidth"),
])
def test_non_finite_numbers_are_bad_input(argv, option):
    proc = run_cli(*argv, timeout=20)
    assert_one_line_error(proc, option)
    assert proc.returncode == 2



def test_schedule_export_rejects_a_pvc_size_that_is_not_a_quantity():
    run_cli("schedule", "add", "web", "--cron", "@hourly", "--", "backup", "filesystem", "web-0", "/app", "-n", "shop",
            check=True)
    proc = run_cli("schedule", "export", "web", "--kubernetes", "--pvc-size", "abc")
    assert_one_line_error(proc, "--pvc-size")
    assert proc.stdout == ""
    assert run_cli("schedule", "export", "web", "--kubernetes", "--pvc-size", "500Mi", check=True).stdout


def test_backup_output_with_a_trailing_slash_names_a_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    proc = run_cli("backup", "filesystem", "--local", src, "-o", f"{tmp_path / 'missing'}/")
    assert_one_line_error(proc, "the folder for -o does not exist")
    assert not (tmp_path / "missing").exists()
    assert not list(tmp_path.glob("missing*"))


def test_compare_compression_of_an_empty_path():
    assert_one_line_error(run_cli("compare-compression", ""), "empty")


@pytest.mark.parametrize(("argv", "fragment"), [
    (("sandbox", "serve", "--root", "ROOT", "--port", "99999"), "--port"),
    (("sandbox", "serve", "--root", "ROOT", "--port", "-1"), "--port"),
    (("demo", "--port", "70000", "--no-wait"), "--port"),
    (("sandbox", "serve", "--root", "ROOT", "--synthetic", "-5"), "--synthetic"),
    (("sandbox", "serve", "--root", "ROOT", "--synthetic", "99999999999999999999"), "--synthetic"),
    (("sandbox", "serve", "--root", ""), "--root"),
])
def test_sandbox_and_demo_reject_bad_numbers(tmp_path, argv, fragment):
    argv = [str(tmp_path / "root") if a == "ROOT" else a for a in argv]
    assert_one_line_error(run_cli(*argv, timeout=20), fragment)


def _not_utf8(path) -> str:
    """A str naming path + a non-UTF-8 byte, as Python sees such a command-line argument."""
    import os

    return os.fsdecode(os.fsencode(str(path)) + b"-\xe9")


@pytest.mark.parametrize("background", [False, True])
def test_local_backup_of_a_folder_whose_name_is_not_utf8(tmp_path, background):
    import json
    import os
    import time

    src = _not_utf8(tmp_path / "src")
    os.mkdir(src)
    with open(os.path.join(src, "a.txt"), "w") as f:
        f.write("a")
    argv = ["backup", "filesystem", "--local", src, "-o", tmp_path / "a.tar", "--compression", "none", "--json"]
    proc = run_cli(*argv, *(["--background"] if background else []))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    job = proc.stdout.strip() if background else json.loads(proc.stdout)["job"]
    for _ in range(100):
        rec = json.loads(run_cli("status", job, "-o", "json", check=True).stdout)
        if rec["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert rec["state"] == "succeeded", rec
    assert run_cli("verify", tmp_path / "a.tar").returncode == 0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from cli_recover.kube.sandbox import make_pod, serve

    root = tmp_path_factory.mktemp("cluster")
    make_pod(root, "default", "web", None, {"data/a.txt": "a\n"})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def test_pod_commands_with_a_path_that_is_not_utf8(sandbox, tmp_path, data_home):
    import json

    kc = ["--kubeconfig", sandbox.kubeconfig_path]
    bad = _not_utf8("/data")
    for argv in (("backup", "filesystem", "web", bad, *kc), ("preflight", "web", bad, *kc),
                 ("backup", "filesystem", "web", "/data", "--exclude", bad, *kc)):
        assert_one_line_error(run_cli(*argv), "not valid UTF-8")
    jobs = json.loads(run_cli("status", "-o", "json", check=True).stdout)
    assert jobs and all(j["state"] == "failed" and "UTF-8" in j["error"] for j in jobs)
    assert not list((data_home / "backups").glob("*"))


def test_backup_never_shares_another_backups_partial_file(tmp_path, data_home):
    import json

    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    partial = tmp_path / "a.tar.partial"
    partial.write_bytes(b"another backup is writing this")
    proc = run_cli("backup", "filesystem", "--local", src, "-o", tmp_path / "a.tar", "--compression", "none")
    assert_one_line_error(proc, "a.tar.partial exists")
    assert partial.read_bytes() == b"another backup is writing this"
    assert not (tmp_path / "a.tar").exists() and not (tmp_path / "a.tar.manifest.json").exists()
    jobs = json.loads(run_cli("status", "-o", "json", check=True).stdout)
    assert all(j["state"] != "running" for j in jobs)
