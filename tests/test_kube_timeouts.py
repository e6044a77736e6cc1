"""Issue 9 item 5: a hung API server (SIGSTOP) must not freeze a backup, a restore or the opening of an
exec stream: the exec stream pings the server and gives up after --exec-timeout seconds without an
answer, with one line; a live server whose command is merely quiet keeps the stream alive.

The sandbox runs as its own process (`cli-recover sandbox serve`) so that it can be stopped; every
command runs with a subprocess timeout, and the server is continued in a `finally`, so a regression
fails the test instead of hanging the suite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli_recover.kube.errors import ExecTimeout
from cli_recover.kube.pod import open_pod_target
from cli_recover.kube.sandbox import make_pod
from tests.conftest import run_cli
from tests.faults import stopped
from tests.jobs_helpers import records

# A python throttle between tar and the exec stream (about 3 MB/s), so a stream is still running when
# the server is stopped; `started` in the pod folder says the command runs.
THROTTLE = (
    "python3 -c 'import sys, time\n"
    "r, w = sys.stdin.buffer, sys.stdout.buffer\n"
    "while b := r.read1(65536):\n"
    "    w.write(b); w.flush(); time.sleep(0.02)'"
)
SLOW_TAR_OUT = f'#!/bin/sh\n: > started\n/usr/bin/tar "$@" | {THROTTLE}\n'
SLOW_TAR_IN = f'#!/bin/sh\n: > started\n{THROTTLE} | /usr/bin/tar "$@"\n'
# Slow (~3 MB/s) for the first 12 MiB, then full speed: the slow part shows that stdin still moving keeps a
# stream alive although pongs wait behind it; the fast end keeps the last in-flight bytes from taking longer
# than the test's timeout (see the limit in cli_recover.kube.stream).
SLOW_START = (
    "python3 -c 'import sys, time\n"
    "r, w = sys.stdin.buffer, sys.stdout.buffer\n"
    "n = 0\n"
    "while b := r.read1(65536):\n"
    "    w.write(b); w.flush(); n += len(b)\n"
    "    if n < 12 << 20: time.sleep(0.02)'"
)
SLOW_START_TAR_IN = f'#!/bin/sh\n{SLOW_START} | /usr/bin/tar "$@"\n'
QUIET_TAR = '#!/bin/sh\nsleep 3\nexec /usr/bin/tar "$@"\n'
STOPPED_TIMEOUT = 2  # --exec-timeout while the server is stopped
RUN_LIMIT = 60  # a subprocess that takes longer than this is hung: the test fails, the suite goes on


def _pod(root: Path, name: str, tar_script: str, files: dict | None = None) -> Path:
    spec = {"containers": [{"name": "main"}], "env": {"PATH": "/fakebin:/usr/bin:/bin"}}
    folder = make_pod(root, "default", name, spec, {"fakebin/tar": tar_script, **(files or {})})
    os.chmod(folder / "fakebin" / "tar", 0o755)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`cli-recover sandbox serve` in its own process: (Popen, kubeconfig path, root)."""
    base = tmp_path_factory.mktemp("hung")
    root = base / "root"
    _pod(root, "slow-out", SLOW_TAR_OUT, {"data/big.bin": os.urandom(24 << 20)})
    _pod(root, "slow-in", SLOW_TAR_IN)
    (root / "default" / "slow-in" / "restored").mkdir()
    _pod(root, "slow-start-in", SLOW_START_TAR_IN)
    _pod(root, "quiet", QUIET_TAR, {"data/x.txt": "x" * 1000})
    kubeconfig = base / "kubeconfig"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli_recover", "sandbox", "serve", "--root", str(root), "--kubeconfig",
         str(kubeconfig)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        while True:
            line = proc.stdout.readline()
            assert line, "sandbox serve exited early"
            if "stop with Ctrl-C" in line:
                break
        yield proc, kubeconfig, root
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "cli_recover", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + RUN_LIMIT
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGABRT)  # -X faulthandler: the stacks of every thread
            pytest.fail(f"{path} never appeared: {proc.communicate()}")
        time.sleep(0.02)


def _finish_while_stopped(server_proc, cli_proc, marker: Path) -> tuple[int, str]:
    """Stop the server once the command in the pod runs; return (exit code, stderr) of the CLI."""
    _wait_for(marker, cli_proc)
    time.sleep(0.3)  # some bytes are on their way
    with stopped(server_proc.pid):
        try:
            _, err = cli_proc.communicate(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            cli_proc.kill()
            cli_proc.communicate()
            pytest.fail("the command hung while the API server was stopped")
    return cli_proc.returncode, err


def _one_failed_record(kind: str) -> dict:
    recs = [r for r in records() if r.get("kind") == kind]
    assert len(recs) == 1, recs
    assert recs[0]["state"] == "failed", recs[0]
    return recs[0]


def test_backup_fails_with_one_line_when_the_api_server_hangs(server, tmp_path):
    server_proc, kubeconfig, root = server
    marker = root / "default" / "slow-out" / "started"
    marker.unlink(missing_ok=True)
    out = tmp_path / "out"
    out.mkdir()
    cli = _start("backup", "filesystem", "slow-out", "/data", "-o", out / "a.tar.zst", "-q",
                 "--kubeconfig", kubeconfig, "--exec-timeout", STOPPED_TIMEOUT)
    code, err = _finish_while_stopped(server_proc, cli, marker)
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"no data from the API server for {STOPPED_TIMEOUT} s (--exec-timeout)" in lines[0]
    assert list(out.iterdir()) == []  # no archive, no .partial, no manifest
    rec = _one_failed_record("backup")
    assert "--exec-timeout" in rec["error"]


def test_restore_fails_with_one_line_when_the_api_server_hangs(server, tmp_path):
    server_proc, kubeconfig, root = server
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(24 << 20))
    archive = tmp_path / "src.tar.zst"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "-q", check=True)
    marker = root / "default" / "slow-in" / "started"
    marker.unlink(missing_ok=True)
    cli = _start("restore", "filesystem", "slow-in", archive, "--target-path", "/restored", "-q",
                 "--kubeconfig", kubeconfig, "--exec-timeout", STOPPED_TIMEOUT)
    code, err = _finish_while_stopped(server_proc, cli, marker)
    assert code != 0
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"API server for {STOPPED_TIMEOUT} s (--exec-timeout)" in lines[0]
    rec = _one_failed_record("restore")
    assert "--exec-timeout" in rec["error"]


def test_a_quiet_command_on_a_live_server_is_not_a_timeout(server, tmp_path):
    """tar silent for 3 s with a 1 s timeout: the pings keep the stream alive."""
    _, kubeconfig, _ = server
    out = tmp_path / "q.tar.zst"
    done = run_cli("backup", "filesystem", "quiet", "/data", "-o", out, "-q", "--kubeconfig", kubeconfig,
                   "--exec-timeout", "1", timeout=RUN_LIMIT)
    assert done.returncode == 0, done.stderr
    assert out.exists()


def test_opening_an_exec_stream_on_a_hung_server_times_out(server):
    server_proc, kubeconfig, _ = server
    target = open_pod_target("quiet", kubeconfig=kubeconfig, exec_timeout=1)
    outcome: list = []

    def spawn() -> None:
        try:
            outcome.append(target.spawn(["true"]))
        except Exception as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    try:
        with stopped(server_proc.pid):
            worker = threading.Thread(target=spawn, daemon=True)
            worker.start()
            worker.join(RUN_LIMIT)
            assert not worker.is_alive(), "opening the exec stream hung"
    finally:
        target.close()
    assert isinstance(outcome[0], ExecTimeout), outcome
    assert "no answer from the API server" in str(outcome[0]) and "(--exec-timeout)" in str(outcome[0])


def test_env_var_sets_the_default_and_bad_values_are_one_line(server, tmp_path, monkeypatch):
    _, kubeconfig, _ = server
    monkeypatch.setenv("CLI_RECOVER_EXEC_TIMEOUT", "7.5")
    for given, expected in ((None, 7.5), (0, 0)):
        target = open_pod_target("quiet", kubeconfig=kubeconfig, exec_timeout=given)
        target.close()
        assert target.exec_timeout == expected
    for bad in ("abc", "-1", "nan", "inf"):
        done = run_cli("preflight", "quiet", "--kubeconfig", kubeconfig, env={"CLI_RECOVER_EXEC_TIMEOUT": bad})
        assert done.returncode != 0 and "CLI_RECOVER_EXEC_TIMEOUT" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    for bad in ("-1", "nan", "x"):
        done = run_cli("backup", "filesystem", "quiet", "/data", "--exec-timeout", bad, "--kubeconfig", kubeconfig)
        assert done.returncode == 2 and "--exec-timeout" in done.stderr and "Traceback" not in done.stderr


def test_preflight_takes_exec_timeout(server):
    _, kubeconfig, _ = server
    done = run_cli("preflight", "quiet", "-o", "json", "--exec-timeout", "30", "--kubeconfig", kubeconfig)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tar"]


def test_a_slow_restore_on_a_live_server_is_not_a_timeout(server, tmp_path):
    """The pod takes stdin at ~3 MB/s for a while, so pongs wait seconds behind it (longer than the 1 s
    timeout): stdin still moving keeps the stream alive."""
    _, kubeconfig, root = server
    src = tmp_path / "src"
    src.mkdir()
    (src / "slow.bin").write_bytes(os.urandom(24 << 20))
    archive = tmp_path / "slow.tar.zst"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "-q", check=True)
    target = root / "default" / "slow-start-in" / "restored"
    target.mkdir()
    done = run_cli("restore", "filesystem", "slow-start-in", archive, "--target-path", "/restored", "-q",
                   "--kubeconfig", kubeconfig, "--exec-timeout", "1", timeout=RUN_LIMIT)
    assert done.returncode == 0, done.stderr
    assert (target / "slow.bin").read_bytes() == (src / "slow.bin").read_bytes()
