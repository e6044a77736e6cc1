"""The sandbox API server through the official kubernetes client (sync and asyncio), no mocks."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import urllib.error
import urllib.request

import pytest

from cli_recover.kube.cluster import Cluster
from cli_recover.kube.pod import open_pod_target
from cli_recover.kube.sandbox import create_demo_tree, make_pod, serve


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(
        root,
        "default",
        "app",
        {"labels": {"app": "web"}, "env": {"GREETING": "hello from the pod"}},
        {"data/a.txt": "alpha\n", "data/sub/b.bin": os.urandom(1000)},
    )
    make_pod(root, "default", "pending", {"phase": "Pending", "reason": "ContainerCreating"})
    make_pod(
        root,
        "other",
        "db",
        {"labels": {"app": "db"}, "containers": [{"name": "postgres", "image": "postgres:16"}]},
    )
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig", synthetic=40) as sb:
        yield sb


def _get(sb, path: str, token: str | None, accept: str = "application/json"):
    ctx = ssl.create_default_context(cadata=sb.ca_pem.decode())
    req = urllib.request.Request(sb.url + path, headers={"Accept": accept})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_official_sync_client_lists_pods_and_namespaces(sandbox):
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(sandbox.kubeconfig_path), context="sandbox"))
    names = {ns.metadata.name for ns in api.list_namespace().items}
    assert {"default", "other", "synthetic-a"} <= names
    pods = api.list_namespaced_pod("default").items
    assert [p.metadata.name for p in pods] == ["app", "pending"]
    assert pods[0].status.phase == "Running" and pods[1].status.phase == "Pending"
    assert pods[0].metadata.labels == {"app": "web"}
    assert api.read_namespaced_pod("db", "other").spec.containers[0].image == "postgres:16"
    everything = api.list_pod_for_all_namespaces().items
    assert len(everything) == 3 + 40
    assert len(api.list_namespaced_pod("default", label_selector="app=web").items) == 1


def test_cluster_pod_info(sandbox):
    with Cluster(sandbox.kubeconfig_path) as cluster:
        assert cluster.namespace == "default" and cluster.context == "sandbox"
        info = {p.name: p for p in cluster.pods()}
        assert info["app"].ready == "1/1" and info["app"].containers == ["main"]
        assert info["pending"].ready == "0/1" and info["pending"].status == "ContainerCreating"
        synthetic = cluster.pods(all_namespaces=True)
        names = [p.name for p in synthetic if p.namespace.startswith("synthetic-")]
        assert len(names) == 40 and len(set(names)) == 40
        assert "web-00000" in names and "api-00001" in names
        assert cluster.namespace_exists("other") is True
        assert cluster.namespace_exists("nope") is False


def test_table_form_kubectl_uses(sandbox):
    status, headers, body = _get(
        sandbox,
        "/api/v1/namespaces/default/pods",
        sandbox.admin_token,
        "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    )
    assert status == 200 and body["kind"] == "Table"
    assert [c["name"] for c in body["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert [r["cells"][:3] for r in body["rows"]] == [
        ["app", "1/1", "Running"],
        ["pending", "0/1", "ContainerCreating"],
    ]
    assert body["rows"][0]["object"]["metadata"]["namespace"] == "default"
    assert "sandbox" in headers["Server"]


def test_discovery_and_version(sandbox):
    status, _, version = _get(sandbox, "/version", None)
    assert status == 200 and version["major"] == "1" and int(version["minor"]) >= 30
    _, _, resources = _get(sandbox, "/api/v1", sandbox.admin_token)
    assert {"pods", "pods/exec", "namespaces"} <= {r["name"] for r in resources["resources"]}


def test_unknown_token_is_401(sandbox):
    status, _, body = _get(sandbox, "/api/v1/namespaces/default/pods", "not-a-token")
    assert status == 401 and body["reason"] == "Unauthorized"
    status, _, _ = _get(sandbox, "/api/v1/namespaces/default/pods", None)
    assert status == 401


def test_removing_a_pod_folder_deletes_the_pod(sandbox):
    make_pod(sandbox.root, "default", "short-lived", files={"x": "1"})
    with Cluster(sandbox.kubeconfig_path) as cluster:
        assert "short-lived" in [p.name for p in cluster.pods()]
        shutil.rmtree(sandbox.root / "default" / "short-lived")
        assert "short-lived" not in [p.name for p in cluster.pods()]
    status, _, body = _get(sandbox, "/api/v1/namespaces/default/pods/short-lived", sandbox.admin_token)
    assert status == 404 and body["reason"] == "NotFound"


def test_exec_is_chrooted_into_the_pod_folder(sandbox, tmp_path):
    assert sandbox.isolated, "tests run as root: exec must be isolated"
    host_only = tmp_path / "host-only.txt"
    host_only.write_text("host secret")
    target = open_pod_target("app", kubeconfig=sandbox.kubeconfig_path)
    code, out, _ = target.run(["sh", "-c", 'pwd; cat /data/a.txt; echo "$GREETING"; echo "$HOSTNAME"; ls /'])
    lines = out.decode().splitlines()
    assert code == 0
    assert lines[:4] == ["/", "alpha", "hello from the pod", "app"]
    assert "data" in lines and "work" not in lines
    code, _, err = target.run(["cat", str(host_only)])
    assert code == 1 and "No such file" in err
    # the host's /usr is shared read-only
    code, _, err = target.run(["touch", "/usr/sandbox-write-test"])
    assert code != 0 and not os.path.exists("/usr/sandbox-write-test")
    # the pod folder is writable
    assert target.run(["sh", "-c", "echo written > /data/new.txt"])[0] == 0
    assert (sandbox.root / "default" / "app" / "data" / "new.txt").read_text() == "written\n"


def test_synthetic_pod_exec_uses_an_empty_folder(sandbox):
    target = open_pod_target("web-00000", namespace="synthetic-a", kubeconfig=sandbox.kubeconfig_path)
    code, out, _ = target.run(
        [
            "sh",
            "-c",
            "ls -A / | grep -v -x -e usr -e bin -e sbin -e lib -e lib64 -e etc "
            "-e dev -e proc -e lib32 -e libx32; echo end",
        ]
    )
    assert code == 0 and out == b"end\n"


def test_demo_tree_is_deterministic_and_served(tmp_path):
    a = create_demo_tree(tmp_path / "a")
    b = create_demo_tree(tmp_path / "b")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*"))
    assert files_a == sorted(p.relative_to(b) for p in b.rglob("*"))
    for rel in files_a:
        if (a / rel).is_file():
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    total = sum((a / r).stat().st_size for r in files_a if (a / r).is_file())
    assert 1_000_000 < total < 20_000_000
    with serve(a, kubeconfig_path=tmp_path / "k") as sb, Cluster(sb.kubeconfig_path) as cluster:
        assert {"shop", "blog", "default"} <= set(cluster.namespaces())
        web = next(p for p in cluster.pods("shop") if p.name.startswith("web-"))
        assert web.containers == ["log-shipper", "web"] and web.default_container == "web"
        target = open_pod_target(web.name, namespace="shop", kubeconfig=sb.kubeconfig_path)
        assert target.container == "web"
        code, out, _ = target.run(
            ["sh", "-c", "ls /app/uploads/2026/01 | wc -l; head -c 4 /app/uploads/2026/01/product-000.png"]
        )
        assert code == 0 and out.split(b"\n", 1) == [b"25", b"\x89PNG"]


def test_base64_subprotocol_and_status_channel(sandbox):
    import base64
    import urllib.parse

    import websocket

    query = urllib.parse.urlencode(
        [
            ("command", "sh"),
            ("command", "-c"),
            ("command", "printf 'a\\0b'; exit 5"),
            ("stdout", "true"),
            ("stderr", "true"),
        ]
    )
    url = sandbox.url.replace("https", "wss") + f"/api/v1/namespaces/default/pods/app/exec?{query}"
    ws = websocket.create_connection(
        url,
        subprotocols=["v4.base64.channel.k8s.io"],
        header=[f"Authorization: Bearer {sandbox.admin_token}"],
        sslopt={
            "cert_reqs": ssl.CERT_REQUIRED,
            "ca_certs": None,
            "context": ssl.create_default_context(cadata=sandbox.ca_pem.decode()),
        },
    )
    try:
        assert ws.subprotocol == "v4.base64.channel.k8s.io"
        frames = []
        while True:
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                break
            if not frame:
                break
            frames.append(frame)
    finally:
        ws.close()
    stdout = b"".join(base64.b64decode(f[1:]) for f in frames if f[0] == "1")
    status = json.loads(b"".join(base64.b64decode(f[1:]) for f in frames if f[0] == "3"))
    assert stdout == b"a\0b"
    assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0] == {
        "reason": "ExitCode",
        "message": "5",
    }
