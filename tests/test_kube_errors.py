"""Every cluster-access error is one readable line of the right class; kubeconfig rules as kubectl's."""

from __future__ import annotations

import socket

import pytest
import yaml

from cli_recover.errors import RecoverError, UsageError
from cli_recover.kube.cluster import Cluster
from cli_recover.kube.errors import (
    ClusterUnreachable,
    CommandNotFound,
    Forbidden,
    KubeconfigError,
    PodNotRunning,
    Unauthorized,
    UnknownContainer,
    UnknownContext,
    UnknownNamespace,
    UnknownPod,
)
from cli_recover.kube.kubeconfig import list_contexts
from cli_recover.kube.pod import open_pod_target
from cli_recover.kube.sandbox import make_pod, serve


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(
        root,
        "default",
        "app",
        {
            "annotations": {"kubectl.kubernetes.io/default-container": "app"},
            "containers": [{"name": "sidecar"}, {"name": "app"}],
        },
        {"data/x": "x"},
    )
    make_pod(root, "default", "plain", {"containers": [{"name": "first"}, {"name": "second"}]})
    make_pod(root, "default", "waiting", {"phase": "Pending", "reason": "ContainerCreating"})
    make_pod(root, "default", "done", {"phase": "Succeeded"})
    make_pod(root, "default", "distroless", {"env": {"PATH": "/nothing-here"}})
    make_pod(root, "team", "api", {"containers": [{"name": "api"}]})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text
    assert isinstance(exc, RecoverError)
    return text


def test_default_container_from_annotation_else_first(sandbox):
    assert open_pod_target("app", kubeconfig=sandbox.kubeconfig_path).container == "app"
    assert open_pod_target("plain", kubeconfig=sandbox.kubeconfig_path).container == "first"
    t = open_pod_target("app", container="sidecar", kubeconfig=sandbox.kubeconfig_path)
    assert t.describe() == "sandbox/default/app/sidecar"
    assert t.run(["sh", "-c", "cat /data/x"])[1] == b"x"


def test_unreachable_names_the_url(tmp_path, sandbox):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    doc = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    cfg = tmp_path / "k"
    cfg.write_text(yaml.safe_dump(doc))
    with pytest.raises(ClusterUnreachable) as err:
        open_pod_target("app", kubeconfig=cfg)
    assert f"https://127.0.0.1:{port}" in one_line(err.value)


def test_unauthorized(tmp_path, sandbox):
    doc = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    doc["users"][0]["user"]["token"] = "revoked"
    cfg = tmp_path / "k"
    cfg.write_text(yaml.safe_dump(doc))
    with pytest.raises(Unauthorized) as err:
        Cluster(cfg).pods()
    assert "unauthorized" in one_line(err.value) and sandbox.url in str(err.value)


def test_forbidden_names_verb_and_resource(sandbox):
    target = open_pod_target("app", context="sandbox-viewer", kubeconfig=sandbox.kubeconfig_path)
    with pytest.raises(Forbidden) as err:
        target.spawn(["tar", "-cf", "-", "/data"])
    text = one_line(err.value)
    assert "`create pods/exec`" in text and "namespace default" in text and "sandbox-viewer" in text


def test_unknown_context(sandbox):
    with pytest.raises(UnknownContext) as err:
        open_pod_target("app", context="prod", kubeconfig=sandbox.kubeconfig_path)
    assert "'prod'" in one_line(err.value) and "sandbox, sandbox-viewer" in str(err.value)
    assert isinstance(err.value, UsageError)


def test_unknown_namespace_lists_choices(sandbox):
    with pytest.raises(UnknownNamespace) as err:
        open_pod_target("app", namespace="teem", kubeconfig=sandbox.kubeconfig_path)
    assert "'teem'" in one_line(err.value) and "team" in str(err.value)


def test_unknown_pod_suggests(sandbox):
    with pytest.raises(UnknownPod) as err:
        open_pod_target("apq", kubeconfig=sandbox.kubeconfig_path)
    text = one_line(err.value)
    assert "'apq'" in text and "did you mean app?" in text


def test_unknown_container_lists_containers(sandbox):
    with pytest.raises(UnknownContainer) as err:
        open_pod_target("app", container="db", kubeconfig=sandbox.kubeconfig_path)
    assert "sidecar, app" in one_line(err.value)


@pytest.mark.parametrize(
    ("pod", "words"),
    [
        ("waiting", ["Pending", "ContainerCreating"]),
        ("done", ["Succeeded"]),
    ],
)
def test_pod_not_running(sandbox, pod, words):
    with pytest.raises(PodNotRunning) as err:
        open_pod_target(pod, kubeconfig=sandbox.kubeconfig_path)
    text = one_line(err.value)
    assert all(w in text for w in words) and "not Running" in text


def test_command_not_found_names_tool_container_and_pod(sandbox):
    target = open_pod_target("distroless", kubeconfig=sandbox.kubeconfig_path)
    proc = target.spawn(["tar", "-cf", "-", "/"])
    assert proc.read() == b""
    with pytest.raises(CommandNotFound) as err:
        proc.wait(10)
    assert one_line(err.value) == "no `tar` in container main of pod distroless (namespace default)"


def test_kubeconfig_colon_list_first_file_wins(tmp_path, sandbox, monkeypatch):
    real = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    other = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "elsewhere",
        "clusters": [{"name": "cli-recover-sandbox", "cluster": {"server": "https://192.0.2.1"}}],
        "users": [],
        "contexts": [
            {
                "name": "elsewhere",
                "context": {"cluster": "cli-recover-sandbox", "user": "x", "namespace": "team"},
            }
        ],
    }
    first = tmp_path / "first"
    first.write_text(yaml.safe_dump(real))
    second = tmp_path / "second"
    second.write_text(yaml.safe_dump(other))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}:{second}")
    names = {c.name: c for c in list_contexts()}
    assert set(names) == {"sandbox", "sandbox-viewer", "elsewhere"}
    assert names["sandbox"].current and names["sandbox"].server == sandbox.url  # first file's cluster wins
    assert names["elsewhere"].namespace == "team"
    # the merged kubeconfig really works, and the context's namespace is the default one
    with Cluster(context="sandbox") as cluster:
        assert [p.name for p in cluster.pods("team")] == ["api"]
    monkeypatch.setenv("KUBECONFIG", str(first))
    doc = yaml.safe_load(first.read_text())
    doc["contexts"][0]["context"]["namespace"] = "team"
    first.write_text(yaml.safe_dump(doc))
    assert open_pod_target("api").describe() == "sandbox/team/api/api"


def test_missing_kubeconfig(tmp_path, monkeypatch):
    with pytest.raises(KubeconfigError) as err:
        Cluster(tmp_path / "nope")
    assert "kubeconfig file not found" in one_line(err.value)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeconfigError, match="no kubeconfig"):
        Cluster()
