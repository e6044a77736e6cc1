"""Talking to one cluster (a kubeconfig context) through the official client's asyncio part.

`kubernetes` is imported lazily, inside the methods that need it. REST answers are read raw and parsed
as plain JSON (no model deserialisation: thousands of pods list fast).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from cli_recover.kube import aioloop
from cli_recover.kube.errors import (
    ClusterError,
    ClusterUnreachable,
    Forbidden,
    KubeconfigError,
    NotFound,
    Unauthorized,
    choices,
)
from cli_recover.kube.kubeconfig import ContextInfo, KubeConfig

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
REQUEST_TIMEOUT = 30.0


@dataclass
class PodInfo:
    """What the pods screen and `cli-recover pods` show."""

    name: str
    namespace: str
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    status: str  # like kubectl's STATUS column: the phase or a container reason (CrashLoopBackOff...)
    ready: str  # "1/2"
    containers: list[str]
    restarts: int
    created: dt.datetime | None
    node: str
    default_container: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def age(self) -> str:
        return age_text(self.created)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["created"] = self.created.strftime("%Y-%m-%dT%H:%M:%SZ") if self.created else None
        out["age"] = self.age
        return out


def age_text(created: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d, 2y."""
    if created is None:
        return "<unknown>"
    s = max(0, int(((now or dt.datetime.now(dt.UTC)) - created).total_seconds()))
    for limit, unit, div in ((120, "s", 1), (7200, "m", 60), (172800, "h", 3600), (63072000, "d", 86400)):
        if s < limit:
            return f"{s // div}{unit}"
    return f"{s // 31536000}y"


def _parse_time(value) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def default_container(pod: dict) -> str:
    """The pod's default-container annotation if it names a container, else the first container."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    wanted = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if wanted and wanted in names:
        return wanted
    return names[0] if names else ""


def pod_info(pod: dict) -> PodInfo:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    shown = status.get("reason") or status.get("phase") or "Unknown"
    for s in statuses:
        state = s.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason and not s.get("ready"):
            shown = reason
    if meta.get("deletionTimestamp"):
        shown = "Terminating"
    return PodInfo(
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        phase=status.get("phase") or "Unknown",
        status=shown,
        ready=f"{ready}/{len(names)}",
        containers=names,
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        created=_parse_time(meta.get("creationTimestamp")),
        node=spec.get("nodeName") or "",
        default_container=default_container(pod),
        labels=dict(meta.get("labels") or {}),
    )


def _status_message(body: bytes) -> str:
    try:
        doc = json.loads(body)
        return str(doc.get("message") or "").strip()
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace").strip()[:200]


_clusters: set = set()  # open clusters, closed at exit


async def _close_all_clusters() -> None:
    for cluster in list(_clusters):
        await cluster._aclose()


aioloop.on_shutdown(_close_all_clusters)


class Cluster:
    """One kubeconfig context. Blocking methods; the I/O runs on the shared background loop."""

    def __init__(self, kubeconfig: str | os.PathLike | None = None, context: str | None = None):
        self.kubeconfig = KubeConfig.load(kubeconfig)
        self.info: ContextInfo = self.kubeconfig.context(context)
        self.context = self.info.name
        self.namespace = self.info.namespace
        self.server = self.info.server
        try:
            url = urlsplit(self.server)
        except ValueError:  # malformed: the client's loader says so
            url = urlsplit("")
        if url.username is not None or url.password is not None:  # aiohttp refuses them beside a token
            raise KubeconfigError(f"the server URL of context {self.context!r} holds credentials (user:password@): "
                                  "not supported; give them in the kubeconfig's user entry")
        self._config = None
        self._api = None
        self._ws_api = None
        _clusters.add(self)

    # -- client set-up (on the loop) --------------------------------------------------------------

    async def _configuration(self):
        if self._config is None:
            import aiohttp
            from kubernetes.aio import config as kconfig
            from kubernetes.aio.client import Configuration

            cfg = Configuration()
            try:
                await kconfig.load_kube_config(
                    config_file=self.kubeconfig.loader_path,
                    context=self.context,
                    client_configuration=cfg,
                    persist_config=False,
                )
            except Exception as exc:  # ConfigException, exec-plugin failures, bad certificate data
                raise KubeconfigError(f"cannot use context {self.context!r}: {_one_line(exc)}") from exc
            # No total timeout on the session: an exec stream may last hours. REST calls pass their own.
            cfg.client_session_kwargs = {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=15)}
            self.server = cfg.host or self.server
            self._config = cfg
        return self._config

    async def api(self):
        """The aio ApiClient for REST calls."""
        if self._api is None:
            from kubernetes.aio.client import ApiClient

            self._api = ApiClient(await self._configuration())
        return self._api

    async def ws_api(self):
        """The aio WsApiClient, for exec."""
        if self._ws_api is None:
            from kubernetes.aio.stream import WsApiClient

            self._ws_api = WsApiClient(await self._configuration())
        return self._ws_api

    async def call(
        self,
        client,
        method: str,
        path: str,
        *,
        path_params=None,
        query=None,
        headers=None,
        timeout: float | None = REQUEST_TIMEOUT,
    ):
        """One request the way the generated CoreV1Api methods make it (param_serialize + call_api with
        BearerToken auth), without importing that 60,000-line module (1.4 s here)."""
        serialized = await client.param_serialize(
            method=method,
            resource_path=path,
            path_params=path_params or {},
            query_params=list(query or []),
            header_params=dict(headers or {"Accept": "application/json"}),
            auth_settings=["BearerToken"],
            collection_formats={"command": "multi"},
        )
        response = await client.call_api(*serialized, _preload_content=False, _request_timeout=timeout)
        return response.response

    async def _aclose(self) -> None:
        for api in (self._api, self._ws_api):
            if api is not None:
                try:
                    await api.close()
                except Exception:  # noqa: BLE001 - closing is best effort
                    pass
        self._api = self._ws_api = None
        _clusters.discard(self)

    def close(self) -> None:
        """Close the HTTP sessions (open ones are also closed at exit)."""
        if self._api or self._ws_api:
            aioloop.run(self._aclose(), 10)
        _clusters.discard(self)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- errors ------------------------------------------------------------------------------------------

    def connection_error(self, exc: BaseException) -> ClusterError:
        """Map a transport failure to a one-line error naming the server."""
        import aiohttp

        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return ClusterUnreachable(
                f"the API server at {self.server} presented a certificate that is not trusted: "
                f"{_one_line(exc.certificate_error)}"
            )
        reason = _one_line(getattr(exc, "os_error", None) or exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            reason = "timed out"
        return ClusterUnreachable(f"cannot reach the Kubernetes API server at {self.server} ({reason})")

    def http_error(
        self, status: int, body: bytes, verb: str, resource: str, namespace: str | None
    ) -> ClusterError:
        """Map an HTTP error status of a request to a one-line error."""
        where = f" in namespace {namespace}" if namespace else ""
        if status == 401:
            return Unauthorized(
                f"unauthorized: the API server at {self.server} rejected the credentials of context "
                f"{self.context!r} (log in again or check the kubeconfig user {self.info.user!r})"
            )
        if status == 403:
            return Forbidden(
                f"forbidden: context {self.context!r} (user {self.info.user!r}) may not "
                f"`{verb} {resource}`{where} (RBAC)"
            )
        if status == 404:
            return NotFound(_status_message(body) or f"{resource} not found{where}")
        message = _status_message(body) or f"HTTP {status}"
        return ClusterError(f"{verb} {resource}{where} failed: {message}")

    async def _get_json(self, path: str, verb: str, resource: str, where: str | None, **path_params) -> dict:
        import aiohttp

        api = await self.api()
        items: list = []
        query: list = [("limit", 500)] if verb == "list" else []
        while True:
            try:
                resp = await self.call(api, "GET", path, path_params=path_params, query=query)
                body = await resp.read()
                status = resp.status
                resp.release()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise self.connection_error(exc) from exc
            if status >= 400:
                raise self.http_error(status, body, verb, resource, where)
            doc = json.loads(body)
            if verb != "list":
                return doc
            items.extend(doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                doc["items"] = items
                return doc
            query = [("limit", 500), ("continue", token)]

    # -- blocking API ------------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        doc = aioloop.run(self._get_json("/api/v1/namespaces", "list", "namespaces", None))
        return sorted(item["metadata"]["name"] for item in doc.get("items") or [])

    def namespace_exists(self, namespace: str) -> bool | None:
        """True/False, or None when we may not look (403)."""

        async def get():
            try:
                await self._get_json("/api/v1/namespaces/{name}", "get", "namespaces", None, name=namespace)
                return True
            except NotFound:
                return False
            except Forbidden:
                return None

        return aioloop.run(get())

    def pods(self, namespace: str | None = None, *, all_namespaces: bool = False) -> list[PodInfo]:
        """Pods of one namespace (default: the context's), or of all namespaces."""
        return [pod_info(p) for p in self.pod_objects(namespace, all_namespaces=all_namespaces)]

    def pod_objects(self, namespace: str | None = None, *, all_namespaces: bool = False) -> list[dict]:
        """The raw pod JSON objects (for `-o json|yaml`)."""
        if all_namespaces:
            doc = aioloop.run(self._get_json("/api/v1/pods", "list", "pods", None))
        else:
            ns = namespace or self.namespace
            doc = aioloop.run(
                self._get_json("/api/v1/namespaces/{namespace}/pods", "list", "pods", ns, namespace=ns)
            )
        items = doc.get("items") or []
        for item in items:
            item.setdefault("kind", "Pod")
            item.setdefault("apiVersion", "v1")
        return items

    def pod(self, name: str, namespace: str | None = None) -> dict:
        """The pod's JSON object; raises NotFound."""
        ns = namespace or self.namespace
        return aioloop.run(
            self._get_json(
                "/api/v1/namespaces/{namespace}/pods/{name}", "get", "pods", ns, name=name, namespace=ns
            )
        )


def _one_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def list_namespaces(context: str | None = None, kubeconfig=None) -> list[str]:
    with Cluster(kubeconfig, context) as cluster:
        return cluster.namespaces()


def list_pods(
    namespace: str | None = None, *, all_namespaces: bool = False, context: str | None = None, kubeconfig=None
) -> list[PodInfo]:
    with Cluster(kubeconfig, context) as cluster:
        return cluster.pods(namespace, all_namespaces=all_namespaces)


__all__ = ["Cluster", "PodInfo", "pod_info", "default_container", "list_namespaces", "list_pods", "choices"]
