"""The cluster commands through the real CLI: pods, contexts, preflight, sandbox serve (stop kills all)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from cli_recover.kube.pod import open_pod_target
from cli_recover.kube.sandbox import make_pod, serve


def cli(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli_recover", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(
        root, "default", "web", {"containers": [{"name": "app"}, {"name": "side"}]}, {"data/a.txt": "a\n"}
    )
    make_pod(root, "default", "bare", {"env": {"PATH": "/nowhere"}})
    make_pod(root, "shop", "db", {"labels": {"app": "db"}})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def test_pods_table_json_yaml(sandbox):
    done = cli("pods", "-A", "--kubeconfig", sandbox.kubeconfig_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "CONTAINERS",
        "NODE",
    ]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["default", "bare"],
        ["default", "web"],
        ["shop", "db"],
    ]
    assert lines[2].split()[6] == "app,side"
    rows = json.loads(cli("pods", "-n", "shop", "-o", "json", "--kubeconfig", sandbox.kubeconfig_path).stdout)
    assert [(r["name"], r["phase"], r["ready"], r["labels"]) for r in rows] == [
        ("db", "Running", "1/1", {"app": "db"})
    ]
    yaml_out = cli("pods", "-o", "yaml", env={"KUBECONFIG": str(sandbox.kubeconfig_path)}).stdout
    assert "- name: bare" in yaml_out and "default_container: app" in yaml_out


def test_pods_errors_are_one_line(sandbox):
    done = cli("pods", "-n", "nope", "--kubeconfig", sandbox.kubeconfig_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "unknown namespace 'nope'" in done.stderr and "Traceback" not in done.stderr
    done = cli("pods", "--context", "prod", "--kubeconfig", sandbox.kubeconfig_path)
    assert done.returncode == 2 and "unknown context 'prod'" in done.stderr


def test_contexts(sandbox):
    done = cli("contexts", "--kubeconfig", sandbox.kubeconfig_path)
    assert done.returncode == 0
    assert done.stdout.splitlines()[1].split()[:2] == ["*", "sandbox"]


def test_preflight(sandbox):
    done = cli(
        "preflight", "web", "/data", "-c", "side", "-o", "json", "--kubeconfig", sandbox.kubeconfig_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["target"] == "sandbox/default/web/side" and report["ok"]
    assert report["tar_flavour"] == "GNU" and report["shell"] and report["du"]
    assert report["path_state"] == "directory" and report["path_readable"] and report["free_bytes"] > 0
    assert set(report["tools"]) >= {"pg_dump", "mysqldump", "mariadb-dump", "mongodump"}
    text = cli("preflight", "web", "/missing", "--kubeconfig", sandbox.kubeconfig_path)
    assert text.returncode == 1 and "/missing does not exist" in text.stdout
    bare = cli("preflight", "bare", "--kubeconfig", sandbox.kubeconfig_path)
    assert bare.returncode == 1 and "no tar in the container" in bare.stdout and "shell" in bare.stdout


def test_sandbox_serve_stops_everything_it_started(tmp_path):
    root = tmp_path / "root"
    make_pod(root, "default", "app", files={"x": "1"})
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli_recover",
            "sandbox",
            "serve",
            "--root",
            str(root),
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or "stop with Ctrl-C" not in lines[-1]:
            line = proc.stdout.readline()
            assert line, "sandbox serve exited early"
            lines.append(line)
        text = "".join(lines)
        assert f"export KUBECONFIG={kubeconfig}" in text and "SANDBOX" in text
        target = open_pod_target("app", kubeconfig=kubeconfig)
        remote = target.spawn(["sh", "-c", "echo up; exec sleep 300"])
        assert remote.read() == b"up\n"
        deadline = time.monotonic() + 10
        while True:  # `exec sleep` may not have happened yet when "up" arrives
            sleepers = [p for p in psutil.Process(proc.pid).children(recursive=True) if p.name() == "sleep"]
            if sleepers or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(sleepers) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        psutil.wait_procs(sleepers, timeout=5)
        assert not sleepers[0].is_running()
        with pytest.raises(Exception):  # noqa: B017 - the stream ends one way or another
            remote.wait(10)
            raise RuntimeError("no status")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_importing_cluster_access_does_not_import_kubernetes():
    code = (
        "import sys, cli_recover.kube.cluster, cli_recover.kube.pod, cli_recover.kube.stream, "
        "cli_recover.kube.sandbox, cli_recover.cli.kube_commands; print('kubernetes' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_sandbox_serve_reports_a_busy_port(tmp_path):
    with serve(tmp_path / "a", kubeconfig_path=tmp_path / "k1") as sb:
        started = time.monotonic()
        done = cli(
            "sandbox", "serve", "--root", tmp_path / "b", "--port", sb.port, "--kubeconfig", tmp_path / "k2"
        )
        assert done.returncode == 2 and "cannot listen on 127.0.0.1" in done.stderr
        assert "Traceback" not in done.stderr and time.monotonic() - started < 30
