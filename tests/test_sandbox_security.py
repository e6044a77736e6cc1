"""Issue 9 item 9: the sandbox runs real commands (as root, chrooted, when it runs as root), so it
never serves plain HTTP or anonymous requests, and it listens on loopback only unless told otherwise."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest

from cli_recover.errors import RecoverError, UsageError
from cli_recover.kube.sandbox import make_pod, serve
from cli_recover.kube.sandbox.server import is_loopback
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(root, "default", "app", files={"data/a.txt": "a"})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def _request(sb, path: str, headers: dict | None = None) -> int:
    ctx = ssl.create_default_context(cadata=sb.ca_pem.decode())
    req = urllib.request.Request(sb.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_it_is_https_only(sandbox):
    assert sandbox.url.startswith("https://") and sandbox.ca_pem
    plain = sandbox.url.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(plain + "/api/v1/pods", timeout=10).read()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YTpi"},
                                     {"Authorization": "Bearer "}])
@pytest.mark.parametrize("path", ["/api/v1/pods", "/api/v1/namespaces/default/pods/app", "/api", "/api/v1"])
def test_requests_without_a_valid_token_get_401(sandbox, path, headers):
    assert _request(sandbox, path, headers) == 401


def test_version_and_health_stay_public_like_a_real_cluster(sandbox):
    assert _request(sandbox, "/version") == 200 and _request(sandbox, "/healthz") == 200
    token = {"Authorization": f"Bearer {sandbox.admin_token}"}
    assert _request(sandbox, "/api/v1/pods", token) == 200


async def test_exec_without_a_token_is_refused(sandbox):
    ctx = ssl.create_default_context(cadata=sandbox.ca_pem.decode())
    url = sandbox.url + "/api/v1/namespaces/default/pods/app/exec?command=id&stdout=true"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(url, ssl=ctx, protocols=("v5.channel.k8s.io",))
    assert info.value.status == 401


def test_without_openssl_it_refuses_to_start_with_one_line(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = run_cli("sandbox", "serve", "--root", tmp_path / "root", "--kubeconfig", tmp_path / "kc",
                   env={"PATH": str(empty)}, timeout=60)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "openssl" in done.stderr and "plain HTTP" in done.stderr
    assert not (tmp_path / "kc").exists()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(RecoverError, match="openssl"):
        serve(tmp_path / "root2", kubeconfig_path=tmp_path / "kc2")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com", ""])
def test_non_loopback_host_needs_the_unsafe_flag(tmp_path, host):
    done = run_cli("sandbox", "serve", "--root", tmp_path / "root", "--host", host, "--kubeconfig",
                   tmp_path / "kc", timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "--i-know-this-is-unsafe" in done.stderr
    assert not (tmp_path / "kc").exists()
    with pytest.raises(UsageError, match="loopback only"):
        serve(tmp_path / "root", host=host, kubeconfig_path=tmp_path / "kc")


def test_the_unsafe_flag_serves_and_warns(tmp_path):
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli_recover", "sandbox", "serve", "--root", str(tmp_path / "root"),
         "--host", "0.0.0.0", "--i-know-this-is-unsafe", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        while True:
            line = proc.stdout.readline()
            assert line, proc.communicate()
            if "stop with Ctrl-C" in line:
                break
        assert kubeconfig.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "warning: UNSAFE" in err and "0.0.0.0" in err


@pytest.mark.parametrize("host,expected", [
    ("127.0.0.1", True), ("127.9.8.7", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost.", True), ("0.0.0.0", False), ("::", False), ("192.168.1.1", False), ("localhost.evil", False),
    ("::ffff:127.0.0.1", False), ("", False),
])
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_kubeconfig_is_private_and_carries_the_ca(sandbox):
    import os

    import yaml

    assert os.stat(sandbox.kubeconfig_path).st_mode & 0o777 == 0o600
    text = sandbox.kubeconfig_path.read_text()
    doc = yaml.safe_load(text.split("\n", 1)[1])
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
    assert json.dumps(doc).count(sandbox.admin_token) == 1
