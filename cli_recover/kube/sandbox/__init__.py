"""The sandbox cluster: a local API server speaking the real Kubernetes REST and exec protocols, whose
pods are folders (`DIR/<namespace>/<pod>/`) and whose exec runs real local processes inside them.

    from cli_recover.kube.sandbox import serve, create_demo_tree
    with serve(root) as sb:      # sb.url, sb.kubeconfig_path, sb.port
        ...
"""

from __future__ import annotations

from cli_recover.kube.sandbox.server import Sandbox, serve, write_kubeconfig

__all__ = ["Sandbox", "serve", "write_kubeconfig", "create_demo_tree", "make_pod"]


def make_pod(root, ns: str, name: str, spec: dict | None = None, files: dict | None = None):
    """Create a pod folder with files (and its .pod.json when spec is given); returns the folder."""
    from cli_recover.kube.sandbox.demo import make_pod as make

    return make(root, ns, name, spec, files)


def create_demo_tree(root, *, overwrite: bool = False):
    """Create the sample sandbox tree (see `cli_recover.kube.sandbox.demo`)."""
    from cli_recover.kube.sandbox.demo import create_demo_tree as make

    return make(root, overwrite=overwrite)
