"""Issue 3: backup and restore of pod folders through the real kubernetes client and the sandbox's
real exec protocol, with the same pipeline, archive and safety rules as local backups."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import zstandard

from cli_recover.kube.sandbox import make_pod, serve
from tests.conftest import make_tree, run_cli, snapshot_tree

CODECS = ["zstd", "lz4", "gzip", "none"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    app = make_pod(root, "default", "app", {"containers": [{"name": "app"}]})
    make_tree(app / "data")
    make_pod(root, "default", "target", {"containers": [{"name": "main"}, {"name": "sidecar"}]})
    make_pod(root, "other", "restore-here", {"containers": [{"name": "main"}]})
    # a container whose tar is cut off and then killed with SIGKILL mid-stream
    dying = make_pod(
        root,
        "default",
        "dying",
        {
            "containers": [{"name": "main"}],
            "env": {"PATH": "/fakebin:/usr/bin:/bin"},
        },
        {
            "fakebin/tar": '#!/bin/sh\n/usr/bin/tar "$@" | head -c 300000\nkill -9 $$\n',
            "data/big.bin": os.urandom(2_000_000),
        },
    )
    os.chmod(dying / "fakebin" / "tar", 0o755)
    make_pod(
        root,
        "default",
        "notar",
        {"containers": [{"name": "main"}], "env": {"PATH": "/nowhere"}},
        {"data/x.txt": "x"},
    )
    make_pod(root, "default", "pending", {"containers": [{"name": "main"}], "phase": "Pending"})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def kube(cluster, *args):
    return run_cli(*args, "--kubeconfig", cluster.kubeconfig_path)


def backup(cluster, *args) -> Path:
    out = kube(cluster, "backup", "filesystem", *args, "-q")
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip().splitlines()[-1])


def raw_stream(archive: Path, codec: str) -> bytes:
    data = archive.read_bytes()
    if codec == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(data).read()
    if codec == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data)
    if codec == "gzip":
        import gzip

        return gzip.decompress(data)
    return data


@pytest.mark.parametrize("codec", CODECS)
def test_pod_backup_is_byte_identical_to_a_local_tar(cluster, codec):
    archive = backup(cluster, "app", "/data", "--compression", codec)
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    assert manifest["source"]["kind"] == "pod" and manifest["source"]["path"] == "/data"
    assert manifest["source"]["target"].endswith("/default/app/app")
    local = subprocess.run(
        ["tar", "-c", "-f", "-", "-C", str(cluster.root / "default/app/data"), "--", "."],
        capture_output=True,
        check=True,
    ).stdout
    raw = raw_stream(archive, codec)
    assert hashlib.sha256(raw).hexdigest() == hashlib.sha256(local).hexdigest() == manifest["sha256"]["raw"]
    assert manifest["sha256"]["stored"] == hashlib.sha256(archive.read_bytes()).hexdigest()


@pytest.mark.parametrize("codec", CODECS)
def test_restore_into_another_pod_round_trips(cluster, codec):
    archive = backup(cluster, "app", "/data", "--compression", codec)
    dest = f"/restored-{codec}"
    out = kube(cluster, "restore", "filesystem", "target", archive, "--target-path", dest, "-c", "main", "-q")
    assert out.returncode == 0, out.stderr
    assert snapshot_tree(cluster.root / "default/target" / dest.lstrip("/")) == snapshot_tree(
        cluster.root / "default/app/data"
    )


def test_restore_defaults_to_the_backed_up_path_in_another_namespace(cluster):
    archive = backup(cluster, "app", "/data")
    out = kube(
        cluster,
        "restore",
        "filesystem",
        "restore-here",
        archive,
        "-n",
        "other",
        "--include",
        "docs",
        "--json",
        "-q",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["target_path"] == "/data"
    restored = cluster.root / "other/restore-here/data"
    assert (restored / "docs/readme.txt").read_text() == "hello\n" * 1000
    assert not (restored / "big.bin").exists()


def test_restore_into_a_pod_refuses_existing_files(cluster):
    archive = backup(cluster, "app", "/data")
    out = kube(cluster, "restore", "filesystem", "app", archive)  # back onto itself, no --force
    assert out.returncode != 0
    assert "already exist in /data" in out.stderr and "--force" in out.stderr


def test_tar_failing_in_the_pod_leaves_nothing(cluster, data_home):
    out = kube(cluster, "backup", "filesystem", "app", "/no/such/dir")
    assert out.returncode != 0
    assert "exited with status 2" in out.stderr and "no archive was written" in out.stderr
    assert "/no/such/dir" in out.stderr
    backups = data_home / "backups"
    assert not backups.exists() or not any(backups.iterdir())


def test_producer_killed_mid_stream_fails_and_leaves_nothing(cluster, data_home):
    out = kube(cluster, "backup", "filesystem", "dying", "/data")
    assert out.returncode != 0
    assert "no archive was written" in out.stderr
    assert "killed by signal 9 (SIGKILL)" in out.stderr
    backups = data_home / "backups"
    assert not backups.exists() or not any(backups.iterdir())
    status = json.loads(run_cli("status", "-o", "json").stdout)
    job = status[0] if isinstance(status, list) else status["jobs"][0]
    assert job["state"] == "failed" and "no archive was written" in job["error"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["backup", "filesystem", "nosuchpod", "/data"], "no pod 'nosuchpod'"),
        (["backup", "filesystem", "app", "/data", "-n", "nosuchns"], "unknown namespace 'nosuchns'"),
        (["backup", "filesystem", "app", "/data", "-c", "nope"], "has no container 'nope'"),
        (["backup", "filesystem", "pending", "/data"], "is Pending"),
        (["backup", "filesystem", "notar", "/data"], "tar"),
        (["backup", "filesystem", "app", "relative/path"], "must be absolute"),
        (["backup", "filesystem", "app", "/data", "--context", "nosuchctx"], "nosuchctx"),
    ],
)
def test_cluster_errors_are_one_line(cluster, args, message):
    out = kube(cluster, *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
