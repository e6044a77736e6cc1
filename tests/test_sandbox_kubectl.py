"""Real kubectl against the sandbox: get pods, exec (out and in) and cp, so the sandbox stays faithful."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from cli_recover.kube.sandbox import make_pod, serve

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    files = {f"data/d{i % 3}/f{i:02d}.bin": os.urandom(50_000 + i * 999) for i in range(60)}
    files["data/readme.txt"] = "kubectl was here\n"
    make_pod(root, "default", "web", {"labels": {"app": "web"}}, files)
    make_pod(root, "shop", "db", {"phase": "Pending", "reason": "ContainerCreating"})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


@pytest.fixture
def kubectl(sandbox, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(sandbox.kubeconfig_path)}

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([KUBECTL, *args], capture_output=True, env=env, input=input, timeout=60)

    return run


def test_get_pods(kubectl):
    done = kubectl("get", "pods", "-A")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert lines[1].split()[:4] == ["default", "web", "1/1", "Running"]
    assert lines[2].split()[:4] == ["shop", "db", "0/1", "ContainerCreating"]
    assert kubectl("get", "pods", "-l", "app=web", "-o", "name").stdout == b"pod/web\n"


def test_exec_tar_is_byte_identical(sandbox, kubectl):
    flags = ["--sort=name", "--mtime=2026-01-01 00:00:00", "--owner=0", "--group=0", "--numeric-owner"]
    done = kubectl("exec", "web", "--", "tar", "-cf", "-", *flags, "-C", "/data", ".")
    assert done.returncode == 0, done.stderr
    local = subprocess.run(
        ["tar", "-cf", "-", *flags, "-C", str(sandbox.root / "default/web/data"), "."],
        capture_output=True,
        check=True,
    ).stdout
    assert len(local) > 3_000_000
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(local).digest()


def test_exec_stdin_and_exit_code(sandbox, kubectl):
    payload = os.urandom(5_000_000)
    done = kubectl("exec", "-i", "web", "--", "sh", "-c", "cat > /data/upload.bin; exit 4", input=payload)
    assert done.returncode == 4
    assert (sandbox.root / "default/web/data/upload.bin").read_bytes() == payload
    (sandbox.root / "default/web/data/upload.bin").unlink()
    missing = kubectl("exec", "web", "--", "no-such-tool")
    assert missing.returncode != 0 and b"executable file not found" in missing.stderr


def test_cp_out_of_the_pod(sandbox, kubectl, tmp_path):
    done = kubectl("cp", "default/web:/data", str(tmp_path / "copy"))
    assert done.returncode == 0, done.stderr
    diff = subprocess.run(
        ["diff", "-r", str(sandbox.root / "default/web/data"), str(tmp_path / "copy")],
        capture_output=True,
        text=True,
    )
    assert diff.returncode == 0, diff.stdout


def test_viewer_cannot_exec(kubectl):
    done = kubectl("--context", "sandbox-viewer", "exec", "web", "--", "true")
    assert done.returncode != 0 and b"forbidden" in done.stderr.lower()
    assert kubectl("--context", "sandbox-viewer", "get", "pods").returncode == 0
