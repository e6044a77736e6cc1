"""The sandbox API server: enough of the Kubernetes REST and exec protocols for kubectl and the
official client. Not a real cluster: pods are folders, exec runs local processes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from pathlib import Path

import yaml
from aiohttp import web

from cli_recover.fsutil import replace_file
from cli_recover.kube.sandbox.execstream import PROTOCOLS, ChannelSocket, kill_group, run_exec, status_json
from cli_recover.kube.sandbox.pods import PodStore, SandboxPod, match_labels
from cli_recover.kube.sandbox.runtime import CommandNotFound, PodRuntime
from cli_recover.kube.sandbox.tls import make_certs, openssl_available

UNSAFE_FLAG = "--i-know-this-is-unsafe"

log = logging.getLogger("cli_recover.sandbox")

SERVER_HEADER = "cli-recover-sandbox (a local sandbox, not a real Kubernetes cluster)"
CLUSTER_NAME = "cli-recover-sandbox"
ADMIN_USER = "sandbox-admin"
VIEWER_USER = "sandbox-viewer"
KUBE_MINOR = "33"
USER_KEY = web.RequestKey("user", str) if hasattr(web, "RequestKey") else "user"


def _status(code: int, reason: str, message: str, details: dict | None = None) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return web.json_response(body, status=code)


def _not_found(kind: str, name: str) -> web.Response:
    return _status(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})


def _forbidden(user: str, verb: str, resource: str, name: str, ns: str | None) -> web.Response:
    where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
    kind = resource.split("/")[0]
    subject = f'{kind} "{name}" is forbidden' if name else f"{kind} is forbidden"
    return _status(
        403,
        "Forbidden",
        f'{subject}: User "{user}" cannot {verb} resource "{resource}" in API group ""{where}',
        {"name": name, "kind": kind},
    )


API_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "v1",
    "resources": [
        {
            "name": "namespaces",
            "singularName": "namespace",
            "namespaced": False,
            "kind": "Namespace",
            "verbs": ["get", "list"],
            "shortNames": ["ns"],
        },
        {
            "name": "pods",
            "singularName": "pod",
            "namespaced": True,
            "kind": "Pod",
            "verbs": ["get", "list"],
            "shortNames": ["po"],
            "categories": ["all"],
        },
        {
            "name": "pods/exec",
            "singularName": "",
            "namespaced": True,
            "kind": "PodExecOptions",
            "verbs": ["create", "get"],
        },
    ],
}

POD_COLUMNS = [
    ("Name", "string", "name", 0),
    ("Ready", "string", "", 0),
    ("Status", "string", "", 0),
    ("Restarts", "string", "", 0),
    ("Age", "string", "", 0),
    ("IP", "string", "", 1),
    ("Node", "string", "", 1),
    ("Nominated Node", "string", "", 1),
    ("Readiness Gates", "string", "", 1),
]
NS_COLUMNS = [("Name", "string", "name", 0), ("Status", "string", "", 0), ("Age", "string", "", 0)]


def _wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def _table(columns, rows: list[tuple[list, dict]]) -> web.Response:
    return web.json_response(
        {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": "1"},
            "columnDefinitions": [
                {"name": n, "type": t, "format": f, "description": n, "priority": p} for n, t, f, p in columns
            ],
            "rows": [
                {
                    "cells": cells,
                    "object": {
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": meta,
                    },
                }
                for cells, meta in rows
            ],
        }
    )


class SandboxApp:
    """Request handlers over a PodStore."""

    def __init__(self, root: Path, synthetic: int = 0):
        self.store = PodStore(root, synthetic)
        self.runtime = PodRuntime()
        self.tokens: dict[str, str] = {
            secrets.token_hex(16): ADMIN_USER,
            secrets.token_hex(16): VIEWER_USER,
        }
        self.processes: set = set()
        self._scratch: Path | None = None
        self.app = self._build()

    def token_for(self, user: str) -> str:
        return next(t for t, u in self.tokens.items() if u == user)

    def _build(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 20)
        r = app.router
        r.add_get("/version", self.version)
        r.add_get("/healthz", self.ok)
        r.add_get("/readyz", self.ok)
        r.add_get("/livez", self.ok)
        r.add_get("/api", self.api)
        r.add_get("/apis", self.apis)
        r.add_get("/api/v1", self.api_v1)
        r.add_get("/api/v1/namespaces", self.list_namespaces)
        r.add_get("/api/v1/namespaces/{ns}", self.get_namespace)
        r.add_get("/api/v1/pods", self.list_pods)
        r.add_get("/api/v1/namespaces/{ns}/pods", self.list_pods)
        r.add_get("/api/v1/namespaces/{ns}/pods/{name}", self.get_pod)
        r.add_route("GET", "/api/v1/namespaces/{ns}/pods/{name}/exec", self.exec)
        r.add_route("POST", "/api/v1/namespaces/{ns}/pods/{name}/exec", self.exec)
        app.on_shutdown.append(self._on_shutdown)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        public = request.path in ("/version", "/healthz", "/readyz", "/livez")
        auth = request.headers.get("Authorization", "")
        user = self.tokens.get(auth[7:].strip()) if auth.lower().startswith("bearer ") else None
        if user is None and not public:  # no token, no access: there is no anonymous user
            resp = _status(401, "Unauthorized", "Unauthorized")
        else:
            request[USER_KEY] = user
            resp = await handler(request)
        with contextlib.suppress(Exception):
            resp.headers["Server"] = SERVER_HEADER
        return resp

    # -- discovery -------------------------------------------------------------------------------

    async def ok(self, request):
        return web.Response(text="ok")

    async def version(self, request):
        return web.json_response(
            {
                "major": "1",
                "minor": KUBE_MINOR,
                "gitVersion": f"v1.{KUBE_MINOR}.0-cli-recover-sandbox",
                "gitCommit": "sandbox",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "none (cli-recover sandbox, Python)",
                "compiler": "sandbox",
                "platform": "linux/amd64",
            }
        )

    async def api(self, request):
        return web.json_response(
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": request.host}],
            }
        )

    async def apis(self, request):
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def api_v1(self, request):
        return web.json_response(API_RESOURCES)

    # -- namespaces ------------------------------------------------------------------------------

    def _ns_json(self, ns: str) -> dict:
        created = self.store.namespace_created(ns).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": ns,
                "uid": ns,
                "resourceVersion": "1",
                "creationTimestamp": created,
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    async def list_namespaces(self, request):
        items = [self._ns_json(ns) for ns in self.store.namespaces()]
        if _wants_table(request):
            now = dt.datetime.now(dt.UTC)
            from cli_recover.kube.sandbox.pods import human_age

            return _table(
                NS_COLUMNS,
                [
                    (
                        [
                            i["metadata"]["name"],
                            "Active",
                            human_age(now - self.store.namespace_created(i["metadata"]["name"])),
                        ],
                        i["metadata"],
                    )
                    for i in items
                ],
            )
        return web.json_response(
            {
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        )

    async def get_namespace(self, request):
        ns = request.match_info["ns"]
        if not self.store.namespace_exists(ns):
            return _not_found("namespaces", ns)
        return web.json_response(self._ns_json(ns))

    # -- pods --------------------------------------------------------------------------------------

    def _filter(self, request, pods: list[SandboxPod]) -> list[SandboxPod]:
        selector = request.query.get("labelSelector")
        if selector:
            pods = [p for p in pods if match_labels(p.labels, selector)]
        fields = request.query.get("fieldSelector")
        if fields:
            for term in fields.split(","):
                key, _, value = term.partition("=")
                value = value.lstrip("=")
                getter = {
                    "metadata.name": lambda p: p.name,
                    "metadata.namespace": lambda p: p.namespace,
                    "status.phase": lambda p: p.phase,
                    "spec.nodeName": lambda p: p.node,
                }.get(key.rstrip("!"))
                if getter is None:
                    continue
                if key.endswith("!"):
                    pods = [p for p in pods if getter(p) != value]
                else:
                    pods = [p for p in pods if getter(p) == value]
        return pods

    async def list_pods(self, request):
        ns = request.match_info.get("ns")
        pods = self._filter(request, await asyncio.to_thread(self.store.pods, ns))
        if _wants_table(request):
            now = dt.datetime.now(dt.UTC)
            return _table(POD_COLUMNS, [(p.table_cells(now), p.metadata()) for p in pods])
        return web.json_response(
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": [p.to_json() for p in pods],
            }
        )

    async def get_pod(self, request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self.store.get(ns, name)
        if pod is None:
            return _not_found("pods", name)
        if _wants_table(request):
            return _table(POD_COLUMNS, [(pod.table_cells(dt.datetime.now(dt.UTC)), pod.metadata())])
        return web.json_response(pod.to_json())

    # -- exec --------------------------------------------------------------------------------------

    def _scratch_root(self, pod: SandboxPod) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="cli-recover-sandbox-synthetic-"))
        folder = self._scratch / pod.namespace / pod.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def exec(self, request: web.Request):
        ns, name = request.match_info["ns"], request.match_info["name"]
        user = request[USER_KEY]
        if user != ADMIN_USER:
            return _forbidden(user, "create", "pods/exec", name, ns)
        pod = self.store.get(ns, name)
        if pod is None:
            return _not_found("pods", name)
        q = request.query
        argv = q.getall("command", [])
        cname = q.get("container")
        if not cname and len(pod.containers) > 1:
            names = " ".join(c.name for c in pod.containers)
            return _status(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{names}]",
            )
        container = pod.container(cname)
        if container is None:
            return _status(400, "BadRequest", f"container {cname} is not valid for pod {name}")
        if pod.phase != "Running":
            if pod.phase in ("Succeeded", "Failed"):
                msg = f"cannot exec into a container in a completed pod; current phase is {pod.phase}"
            else:
                msg = (
                    f'container "{container.name}" in pod "{name}" is waiting to start: '
                    f"{pod.reason or 'ContainerCreating'}"
                )
            return _status(400, "BadRequest", msg)
        if not argv:
            return _status(400, "BadRequest", "you must specify at least 1 command")
        if (
            "upgrade" not in request.headers.get("Connection", "").lower()
            or request.headers.get("Upgrade", "").lower() != "websocket"
        ):
            return _status(
                400,
                "BadRequest",
                "Upgrade request required: this sandbox speaks the WebSocket "
                "exec protocol only (no SPDY); use kubectl 1.30 or newer",
            )
        want_stdin = q.get("stdin", "").lower() in ("1", "true")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        chan = ChannelSocket(ws, ws.ws_protocol or "")
        log.debug("exec %s/%s [%s] %s via %s", ns, name, container.name, argv, chan.protocol)
        root = pod.root if pod.root is not None else self._scratch_root(pod)
        try:
            proc = await asyncio.to_thread(
                self.runtime.spawn, root, argv, pod.exec_env(container), stdin=want_stdin
            )
        except (CommandNotFound, OSError) as exc:
            message = (
                f"failed to exec in container: failed to start exec: OCI runtime exec failed: "
                f"exec failed: unable to start container process: {exc}: unknown"
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await chan.send_status(status_json(None, message))
                await ws.close()
            return ws
        self.processes.add(proc)
        try:
            await run_exec(chan, proc, argv)
        finally:
            self.processes.discard(proc)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close()
        return ws

    def kill_all(self) -> None:
        for proc in list(self.processes):
            kill_group(proc)

    async def _on_shutdown(self, app) -> None:
        self.kill_all()

    def cleanup(self) -> None:
        self.kill_all()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def write_kubeconfig(
    path: Path, url: str, admin_token: str, viewer_token: str, ca_pem: bytes | None = None
) -> Path:
    """A kubeconfig with contexts `sandbox` (full access) and `sandbox-viewer` (no pods/exec)."""
    cluster: dict = {"server": url}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode("ascii")
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": CLUSTER_NAME, "cluster": cluster}],
        "users": [
            {"name": ADMIN_USER, "user": {"token": admin_token}},
            {"name": VIEWER_USER, "user": {"token": viewer_token}},
        ],
        "contexts": [
            {
                "name": "sandbox",
                "context": {"cluster": CLUSTER_NAME, "user": ADMIN_USER, "namespace": "default"},
            },
            {
                "name": "sandbox-viewer",
                "context": {"cluster": CLUSTER_NAME, "user": VIEWER_USER, "namespace": "default"},
            },
        ],
        "current-context": "sandbox",
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "# cli-recover SANDBOX cluster: local folders served as pods, not a real Kubernetes cluster.\n"
    # a fresh temporary name created exclusively (0600): never a file or symlink planted beside it
    replace_file(path, (text + yaml.safe_dump(doc, sort_keys=False)).encode())
    return path


class Sandbox:
    """A running sandbox server (in a background thread). Use as a context manager or call stop().

    Always HTTPS with a throw-away CA (in the kubeconfig) and bearer tokens: exec runs real commands
    (as root, chrooted, when the sandbox runs as root), so it never serves plain HTTP or anonymous
    requests, and it refuses to start when no certificate can be made (no `openssl` command). It
    listens on loopback only unless `allow_remote` (the CLI's --i-know-this-is-unsafe).
    """

    def __init__(
        self,
        root,
        host: str = "127.0.0.1",
        port: int = 0,
        kubeconfig_path=None,
        synthetic: int = 0,
        allow_remote: bool = False,
    ):
        from cli_recover.errors import RecoverError, UsageError

        if not allow_remote and not is_loopback(host):
            raise UsageError(
                f"the sandbox listens on loopback only (127.0.0.1, ::1, localhost), not {host!r}: its pod "
                f"commands run on this host{' as root' if os.geteuid() == 0 else ''}; add {UNSAFE_FLAG} "
                "to serve other machines anyway"
            )
        if not openssl_available():
            raise RecoverError(
                "the sandbox needs the `openssl` command to make its TLS certificate and never serves plain "
                "HTTP; install openssl (e.g. apt-get install openssl)"
            )
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.tls = True
        self.handlers = SandboxApp(self.root, synthetic)
        self._secrets = Path(tempfile.mkdtemp(prefix="cli-recover-sandbox-tls-"))
        try:
            ca_pem, cert, key = make_certs(self._secrets, host)
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(cert, key)
        except (OSError, RuntimeError, ssl.SSLError) as exc:
            raise RecoverError(f"sandbox: cannot create its TLS certificate: {exc}") from exc
        finally:  # the key now lives in the TLS context only: even a SIGKILL leaves none on disk
            shutil.rmtree(self._secrets, ignore_errors=True)
        self.ca_pem = ca_pem
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            shutil.rmtree(self._secrets, ignore_errors=True)
            from cli_recover.errors import UsageError

            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"https://{shown}:{self.port}"
        self.kubeconfig_path = Path(kubeconfig_path) if kubeconfig_path else self.root / ".sandbox-kubeconfig"
        write_kubeconfig(
            self.kubeconfig_path,
            self.url,
            self.handlers.token_for(ADMIN_USER),
            self.handlers.token_for(VIEWER_USER),
            ca_pem,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="cli-recover-sandbox", daemon=True)
        self._thread.start()
        self._started.wait(30)
        if self._error:
            raise self._error

    @property
    def isolated(self) -> bool:
        """True when exec runs chrooted in a private mount namespace (root)."""
        return self.handlers.runtime.isolated

    @property
    def admin_token(self) -> str:
        return self.handlers.token_for(ADMIN_USER)

    @property
    def viewer_token(self) -> str:
        return self.handlers.token_for(VIEWER_USER)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._runner = web.AppRunner(
                self.handlers.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
            )
            loop.run_until_complete(self._runner.setup())
            site = web.SockSite(self._runner, self._sock, ssl_context=self._ssl)
            loop.run_until_complete(site.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._started.set()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._runner.cleanup())
            self.handlers.cleanup()
            loop.close()
            self._stopped.set()

    def stop(self) -> None:
        """Stop serving and kill every process the sandbox started. Safe to call twice."""
        self.handlers.kill_all()
        loop = self._loop
        if loop is not None and not loop.is_closed() and self._thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(15)
        self.handlers.cleanup()
        shutil.rmtree(self._secrets, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._sock.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the server stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    root,
    host: str = "127.0.0.1",
    port: int = 0,
    kubeconfig_path=None,
    synthetic: int = 0,
    allow_remote: bool = False,
) -> Sandbox:
    """Start a sandbox cluster serving `root` in a background thread; returns the running `Sandbox`."""
    return Sandbox(root, host=host, port=port, kubeconfig_path=kubeconfig_path, synthetic=synthetic,
                   allow_remote=allow_remote)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or `localhost`: only this machine can connect."""
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
