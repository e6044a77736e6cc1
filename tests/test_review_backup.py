"""Review of issue 9's backup / jobs / kube side, as an attacker: each test failed before its fix."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from cli_recover.kube.sandbox import write_kubeconfig
from tests.faults import fault_env, full_disk, stopped
from tests.jobs_helpers import ROOT, cli, records


def test_kubeconfig_never_written_through_a_planted_tmp_file(tmp_path):
    """The sandbox's kubeconfig holds its tokens: a file or symlink planted at its temporary name (a
    shared folder) must not receive them nor leave the kubeconfig readable by others."""
    leak = tmp_path / "leak"
    leak.write_text("")
    os.chmod(leak, 0o666)
    kc = tmp_path / "kc"
    (tmp_path / "kc.tmp").symlink_to(leak)
    write_kubeconfig(kc, "https://127.0.0.1:1", "admintoken123", "viewertoken456")
    assert "admintoken123" not in leak.read_text()
    st = os.lstat(kc)
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600

    planted = tmp_path / "kc2.tmp"
    planted.write_text("")
    os.chmod(planted, 0o666)
    kc2 = tmp_path / "kc2"
    write_kubeconfig(kc2, "https://127.0.0.1:1", "admintoken123", "viewertoken456")
    assert stat.S_IMODE(os.lstat(kc2).st_mode) == 0o600
    assert "admintoken123" not in planted.read_text() if planted.exists() else True


def test_a_full_data_home_leaves_no_temp_files_and_names_the_file(tmp_path):
    """A job record (or any replace_file) on a full disk: no empty `.ID.pid.ns.tmp` left behind, and
    the one line says which file could not be written."""
    home = tmp_path / "home"
    with full_disk(home, "64k"):
        with open(home / "fill", "wb") as f:
            with contextlib.suppress(OSError):
                f.write(b"\0" * 100_000)
        env = {**os.environ, "CLI_RECOVER_HOME": str(home), "PYTHONPATH": str(ROOT)}
        src = tmp_path / "src"
        src.mkdir()
        (src / "a").write_text("a")
        res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src),
                              "-q", "-o", str(tmp_path / "a.tar")], capture_output=True, text=True, env=env,
                             timeout=60)
        assert res.returncode == 1
        assert "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
        assert "No space left on device" in res.stderr and str(home) in res.stderr, res.stderr
        left = [p.name for p in home.rglob("*") if p.name.endswith(".tmp")]
        assert left == []


@pytest.mark.parametrize("args", [[b"p\xff", b"/data"], [b"p1", b"/data", b"-n", b"\xff"],
                                  [b"p1", b"/data", b"-c", b"\xfe"]])
def test_a_pod_namespace_or_container_name_that_is_not_utf8_is_one_line(tmp_path, args):
    """Bytes that are not UTF-8 in a pod, namespace or container name: one line, not the traceback of
    the kubernetes client's URL quoting (UnicodeEncodeError)."""
    kubeconfig = write_kubeconfig(tmp_path / "kc", "https://127.0.0.1:9", "t1", "t2")
    env = {**os.environ, "CLI_RECOVER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT),
           "KUBECONFIG": str(kubeconfig)}
    res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", *args, b"-q"],
                         capture_output=True, env=env, timeout=60)
    err = res.stderr.decode(errors="replace")
    assert res.returncode != 0 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "UTF-8" in err


def test_run_backup_creates_a_missing_output_folder_private_whatever_the_umask(tmp_path):
    """run_backup (the API the CLI, the TUI and schedules share) makes a missing output folder 0700
    like the data home, not 0777 under umask 0."""
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.kube.local import LocalTarget

    out = tmp_path / "new" / "deeper" / "a.tar"
    old = os.umask(0)
    try:
        run_backup(BackupRequest(target=LocalTarget(), argv=["tar", "-cf", "-", "-C", str(tmp_path), "new"],
                                 output=out, codec="none", level=None, provider="filesystem", source={}))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(out.parent).st_mode) == 0o700


def test_the_vanished_check_never_removes_the_partial_files_of_a_running_backup(tmp_path):
    """Job A is killed after its commit; its archive is deleted by hand and backup B reserves the same
    name. `status` (run to watch B) marks A vanished: it must not remove B's `.partial` files, which
    have A's names (B would then fail, or lose its spool mid-stream)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    archive = tmp_path / "out" / "a.tar"
    archive.parent.mkdir()
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src), "-q", "-o", str(archive)]
    res = subprocess.run(argv, env=fault_env("commit.dir-synced=kill", base=base), capture_output=True, timeout=60)
    assert res.returncode == -signal.SIGKILL
    os.unlink(archive)
    os.unlink(str(archive) + ".manifest.json")
    b = subprocess.Popen(argv, env=fault_env("stage.store.chunk=hang", base=base), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(r.get("archive") == str(archive) and r.get("pid") == b.pid for r in records()):
            assert time.monotonic() < deadline and b.poll() is None
            time.sleep(0.05)
        assert cli("status", "-A").returncode == 0
        assert os.path.exists(str(archive) + ".partial"), "the running backup's .partial was removed"
        assert os.path.exists(archive.parent / ".members-a.tar.jsonl")
        (a_rec,) = [r for r in records() if r.get("pid") != b.pid]
        assert a_rec["state"] == "failed" and a_rec["removed_partial"] == []
    finally:
        b.send_signal(signal.SIGTERM)
        b.communicate(timeout=60)
    assert b.returncode != 0 and not archive.exists()


def test_a_server_url_with_credentials_is_one_line_that_hides_them(tmp_path):
    """`server: https://user:password@host` in a kubeconfig: a one-line refusal that does not repeat
    the password (it was an aiohttp ValueError traceback)."""
    kubeconfig = write_kubeconfig(tmp_path / "kc", "https://alice:S3CRETPW@127.0.0.1:9", "t1", "t2")
    home = tmp_path / "home"
    env = {**os.environ, "CLI_RECOVER_HOME": str(home), "PYTHONPATH": str(ROOT), "KUBECONFIG": str(kubeconfig)}
    res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", "p1", "/data", "-q"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode != 0 and "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr
    assert "credentials" in res.stderr and "S3CRETPW" not in res.stderr
    for path in home.rglob("*"):
        assert not path.is_file() or b"S3CRETPW" not in path.read_bytes()


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """`cli-recover sandbox serve` in its own process with a pod whose tar streams slowly."""
    from tests.test_kube_timeouts import SLOW_TAR_OUT, _pod

    base = tmp_path_factory.mktemp("stopclient")
    root = base / "root"
    _pod(root, "slow-out", SLOW_TAR_OUT, {"data/big.bin": os.urandom(24 << 20)})
    kubeconfig = base / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "sandbox", "serve", "--root", str(root),
                             "--kubeconfig", str(kubeconfig)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        while "stop with Ctrl-C" not in (line := proc.stdout.readline()):
            assert line, "sandbox serve exited early"
        yield kubeconfig, root
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_client_stopped_longer_than_the_exec_timeout_is_not_a_stalled_server(slow_server, tmp_path):
    """Ctrl-Z then `fg` (SIGSTOP/SIGCONT of the backup itself, or a paused VM) for longer than
    --exec-timeout: the server's data waits in the socket; the backup goes on instead of blaming the
    server for the time this process did not run."""
    kubeconfig, root = slow_server
    marker = root / "default" / "slow-out" / "started"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "CLI_RECOVER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT),
           "KUBECONFIG": str(kubeconfig)}
    out = tmp_path / "a.tar"
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "backup", "filesystem", "slow-out", "/data",
                             "-q", "-o", str(out), "--exec-timeout", "1"],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.3)
        with stopped(proc.pid):
            time.sleep(3)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.exists()


def test_o_dash_is_refused_not_a_file_named_dash(tmp_path):
    """`-o -` reads as "to stdout" in most tools; cli-recover writes an archive file plus its manifest,
    so it is a one-line refusal, not an archive named `-` in the current folder."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    env = {**os.environ, "CLI_RECOVER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src), "-q",
                          "-o", "-"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and "stdout" in res.stderr, res.stderr
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("length", [236, 240])
def test_a_name_whose_manifest_would_not_fit_is_refused_before_the_stream(tmp_path, length):
    """An archive name that fits but whose `.manifest.json.partial` (or spool) name is longer than the
    filesystem allows: refused up front with one line, not after the whole stream ran."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "CLI_RECOVER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src), "-q",
                          "-o", str(out / ("a" * (length - 4) + ".tar"))], capture_output=True, text=True, env=env,
                         timeout=60)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
    assert "too long" in res.stderr and "Errno" not in res.stderr, res.stderr
    assert os.listdir(out) == []


def test_sandbox_serve_stops_cleanly_on_sighup(tmp_path):
    """Closing the terminal of `sandbox serve` (SIGHUP) stops it like Ctrl-C: its TLS private key is
    removed and its pod commands are stopped (it died and left them, the key in $TMPDIR)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "sandbox", "serve", "--root", str(tmp_path / "root"),
                             "--kubeconfig", str(tmp_path / "kc")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        while "stop with Ctrl-C" not in (line := proc.stdout.readline()):
            assert line, proc.communicate()
        # the key is read into the TLS context, then removed: a SIGKILL leaves no private key behind
        assert [p.name for p in tmp.iterdir() if p.name.startswith("cli-recover-sandbox-tls-")] == []
        proc.send_signal(signal.SIGHUP)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert [p.name for p in tmp.iterdir() if p.name.startswith("cli-recover-sandbox-tls-")] == []


@pytest.mark.parametrize("plant", ["fifo", "devzero"])
def test_list_and_cleanup_do_not_hang_on_a_manifest_that_is_not_a_file(tmp_path, plant):
    """A FIFO, or a symlink to /dev/zero, named like a manifest (a shared backup folder): `list` and
    `cleanup` hung forever (the /dev/zero one reading without bound); now it is listed as a bad
    manifest and the rest goes on."""
    home = tmp_path / "home"
    folder = home / "backups"
    folder.mkdir(parents=True)
    bad = folder / "x.tar.manifest.json"
    if plant == "fifo":
        os.mkfifo(bad)
    else:
        bad.symlink_to("/dev/zero")
    (folder / "x.tar").write_bytes(b"")
    env = {**os.environ, "CLI_RECOVER_HOME": str(home), "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "cli_recover"]
    res = subprocess.run([*run, "list", "-o", "json"], capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    (entry,) = json.loads(res.stdout)
    assert entry["status"].startswith("bad manifest") and "not a regular file" in entry["status"]
    res = subprocess.run([*run, "cleanup", "--older-than", "0s", "--type", "backups", "--dry-run"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr


def test_list_reads_a_manifest_header_not_its_member_index(tmp_path):
    """`list` (and the app's History) show the header only: memory must not grow with the member
    index (a 1M-member manifest made `list` peak at 570 MB RSS)."""
    import tracemalloc

    from cli_recover.archive.catalog import catalog
    from cli_recover.archive.manifest import MemberSpool

    archive = tmp_path / "a.tar"
    archive.write_bytes(b"\0" * 1024)
    spool = MemberSpool(tmp_path / ".members-a.tar.jsonl")
    for i in range(200_000):
        spool.add({"path": f"dir/file-{i:07d}.txt", "type": "file", "size": i, "mode": 0o644, "mtime": 1})
    header = {"format": "cli-recover/manifest", "format_version": 1, "archive": "a.tar", "created": "2026-01-01T00:00:00Z",
              "codec": {"name": "none"}, "bytes": {"raw": 1024, "stored": 1024}, "sha256": {"stored": "x"},
              "members_count": 200_000}
    with open(tmp_path / "a.tar.manifest.json", "w", encoding="utf-8") as out:
        spool.document(header).write_to(out)
    tracemalloc.start()
    try:
        (entry,) = catalog(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert entry["status"] == "ok" and entry["members"] == 200_000
    assert peak < 8 << 20, peak


@pytest.mark.parametrize("name,codec", [("x.gz", "gzip"), ("x.lz4", "lz4"), ("x.zst", "zstd"),
                                        ("x.tar.xz", None), ("x.tbz2", None), ("x.zip", None)])
def test_o_name_extension_picks_the_codec_or_is_refused(tmp_path, name, codec):
    """`-o x.gz` wrote zstd bytes under a gzip name (as `-o x.tar.xz` and `-o x.zip` did): the codec
    follows every compression suffix, and one cli-recover cannot write is a one-line refusal."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_text("a")
    env = {**os.environ, "CLI_RECOVER_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    out = tmp_path / name
    res = subprocess.run([sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src), "-q",
                          "-o", str(out)], capture_output=True, text=True, env=env, timeout=60)
    if codec is None:
        assert res.returncode == 2 and len(res.stderr.splitlines()) == 1, res.stderr
        assert not out.exists()
    else:
        assert res.returncode == 0, res.stderr
        assert json.loads((tmp_path / (name + ".manifest.json")).read_text())["codec"]["name"] == codec
