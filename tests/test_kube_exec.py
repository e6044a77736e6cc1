"""The exec stream primitive (PodTarget/PodProcess) against the sandbox: bytes, stdin, exit status, kills."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time

import pytest

from cli_recover.errors import ProducerError
from cli_recover.kube import stream
from cli_recover.kube.errors import CommandNotFound
from cli_recover.kube.pod import open_pod_target
from cli_recover.kube.sandbox import make_pod, serve

TAR_FLAGS = ["--sort=name", "--mtime=2026-01-01 00:00:00", "--owner=0", "--group=0", "--numeric-owner"]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    files = {f"data/dir{i % 4}/file{i:03d}.bin": os.urandom(37_000 + i * 1013) for i in range(120)}
    files["data/empty.txt"] = b""
    files["data/notes/readme.txt"] = "hello\n" * 1000
    folder = make_pod(root, "default", "app", {"containers": [{"name": "app"}]}, files)
    os.symlink("notes/readme.txt", folder / "data" / "link")
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


@pytest.fixture(scope="module")
def target(sandbox):
    t = open_pod_target("app", kubeconfig=sandbox.kubeconfig_path)
    yield t
    t.close()


def _read_all(proc) -> bytes:
    chunks = []
    while data := proc.read():
        chunks.append(data)
    return b"".join(chunks)


def test_tar_out_is_byte_identical_to_a_local_tar(sandbox, target):
    local = subprocess.run(
        ["tar", "-cf", "-", *TAR_FLAGS, "-C", str(sandbox.root / "default/app/data"), "."],
        capture_output=True,
        check=True,
    ).stdout
    proc = target.spawn(["tar", "-cf", "-", *TAR_FLAGS, "-C", "/data", "."])
    remote = _read_all(proc)
    assert proc.wait(10) == 0
    assert len(remote) > 4_000_000
    assert hashlib.sha256(remote).hexdigest() == hashlib.sha256(local).hexdigest()


def test_readinto_small_buffers_keep_the_bytes(sandbox, target):
    script = "head -c 3000000 /data/dir1/file001.bin; cat /data/dir0/*"
    expected = subprocess.run(
        ["sh", "-c", script.replace("/data/", "")],
        cwd=sandbox.root / "default/app/data",
        capture_output=True,
        check=True,
    ).stdout
    proc = target.spawn(["sh", "-c", script])
    buf = bytearray(7777)
    out = bytearray()
    while n := proc.readinto(buf):
        out += buf[:n]
    assert proc.wait(10) == 0 and bytes(out) == expected and len(expected) > 1_000_000


def test_stdin_round_trip_large_payload(target):
    payload = os.urandom(64 * 1024 * 1024 + 12345)
    proc = target.spawn(["cat"], stdin=True)
    received = []
    reader = threading.Thread(target=lambda: received.append(_read_all(proc)))
    reader.start()
    view = memoryview(payload)
    for start in range(0, len(view), 3_000_000):  # uneven writes get split into frames
        proc.write(view[start : start + 3_000_000])
    proc.close_stdin()
    reader.join(60)
    assert proc.wait(10) == 0
    assert received and hashlib.sha256(received[0]).digest() == hashlib.sha256(payload).digest()


def test_restore_into_tar_x_then_compare(sandbox, target):
    src = sandbox.root / "default" / "app" / "data"
    archive = subprocess.run(["tar", "-cf", "-", "-C", str(src), "."], capture_output=True, check=True).stdout
    proc = target.spawn(["sh", "-c", "mkdir -p /restore && tar -xf - -C /restore"], stdin=True)
    proc.write(archive)
    proc.close_stdin()
    assert _read_all(proc) == b""
    assert proc.wait(30) == 0, proc.stderr_text()
    diff = subprocess.run(
        ["diff", "-r", "--no-dereference", str(src), str(sandbox.root / "default/app/restore")],
        capture_output=True,
        text=True,
    )
    assert diff.returncode == 0, diff.stdout


def test_exit_status_and_stderr(target):
    proc = target.spawn(["sh", "-c", "echo out; echo problem >&2; exit 3"])
    assert _read_all(proc) == b"out\n"
    assert proc.wait(10) == 3
    assert proc.stderr_text() == "problem\n"
    assert target.run(["true"])[0] == 0


def test_stderr_is_bounded(target):
    proc = target.spawn(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo END >&2"])
    _read_all(proc)
    assert proc.wait(10) == 0
    text = proc.stderr_text()
    assert len(text) == 64 * 1024 and text.endswith("eeeEND\n")


def test_process_killed_mid_stream_is_a_failure(target):
    proc = target.spawn(["sh", "-c", "head -c 2000000 /dev/urandom; kill -9 $$; echo never"])
    data = _read_all(proc)
    assert len(data) == 2_000_000
    assert proc.wait(10) == 137  # 128 + SIGKILL, as a container runtime reports it


def test_command_not_found(target):
    proc = target.spawn(["no-such-tool", "-x"])
    assert _read_all(proc) == b""
    with pytest.raises(CommandNotFound, match=r"no `no-such-tool` in container app of pod app"):
        proc.wait(10)
    code, out, err = target.run(["/opt/missing/bin/tar", "--version"])
    assert code == 127 and "no `/opt/missing/bin/tar`" in err


def test_kill_stops_the_remote_process(sandbox, target):
    proc = target.spawn(["sh", "-c", "echo started; exec sleep 300"])
    assert proc.read() == b"started\n"
    assert len(sandbox.handlers.processes) == 1
    server_proc = next(iter(sandbox.handlers.processes))
    proc.kill()
    proc.kill()  # safe twice
    assert proc.wait(5) == -9
    deadline = time.monotonic() + 5
    while server_proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server_proc.poll() is not None, "the sandbox must kill the command when the client goes away"


def test_run_timeout(target):
    with pytest.raises(ProducerError, match="did not finish within 0.5s"):
        target.run(["sleep", "30"], timeout=0.5)


def test_write_after_exit_fails(target):
    proc = target.spawn(["true"], stdin=True)
    proc.wait(10)
    with pytest.raises(ProducerError, match="stopped reading its input"):
        for _ in range(20):
            proc.write(b"x" * 100_000)


def test_v4_fallback_tar_x_ends_on_its_own(sandbox, target, monkeypatch, caplog):
    monkeypatch.setattr(stream, "PROTOCOLS", "v4.channel.k8s.io")
    src = sandbox.root / "default" / "app" / "data" / "notes"
    archive = subprocess.run(["tar", "-cf", "-", "-C", str(src), "."], capture_output=True, check=True).stdout
    with caplog.at_level("DEBUG", logger="cli_recover.kube"):
        proc = target.spawn(["sh", "-c", "mkdir -p /restore-v4 && tar -xf - -C /restore-v4"], stdin=True)
        assert proc.protocol == "v4.channel.k8s.io"
        proc.write(archive)
        proc.close_stdin()  # cannot be signalled on v4: tar stops at the end-of-archive marker
        assert proc.wait(20) == 0
    assert (sandbox.root / "default/app/restore-v4/readme.txt").read_bytes() == (
        src / "readme.txt"
    ).read_bytes()
    assert "v4.channel.k8s.io" in caplog.text and "cannot close stdin" in caplog.text


def test_a_client_that_vanishes_mid_stream_does_not_break_later_execs(target):
    """A connection reset while the server sends stdout used to leave the stderr pump of that exec
    waiting on a closed pipe; the next exec reused its fd number and hung without output (sandbox)."""
    from cli_recover.kube import aioloop

    for _ in range(4):
        proc = target.spawn(["sh", "-c", "exec cat /dev/zero"])
        assert proc.read(65536)
        time.sleep(0.5)  # we stop reading: the server's send waits for the socket to drain
        transport = proc._ws._response.connection.transport  # then a reset, not a polite close
        aioloop.get_loop().call_soon_threadsafe(transport.abort)
        proc.kill()
        for _ in range(3):
            result: list = []
            worker = threading.Thread(target=lambda out=result: out.append(target.run(["echo", "ok"], timeout=20)),
                                      daemon=True)
            worker.start()
            worker.join(30)
            assert result and result[0][:2] == (0, b"ok\n"), result
