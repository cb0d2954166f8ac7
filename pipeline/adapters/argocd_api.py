"""Argo CD Applications through the Argo CD API server (``/api/v1/applications``): the
``Applications`` port of pipeline/core/ports.py for a CI that holds only an Argo CD token.

What differs from the Kubernetes API, and how the port's promises are kept (reference B,
argo-cd ``server/application/application.go``):

* **Patch**: the server applies a JSON or merge patch to its own copy and persists only spec,
  labels, annotations and finalizers; it takes no resourceVersion precondition. So a patch is
  sent as an RFC 6902 JSON patch that starts with ``test /metadata/resourceVersion``: a stale
  read fails the test ("error applying patch"), which becomes ``Conflict`` as a 409 does.
* **Sync**: ``.operation`` cannot be patched; ``POST .../sync`` starts it, with the operation's
  fields renamed (``info``->``infos``, ``syncStrategy``->``strategy``, ``retry``->
  ``retryStrategy``). "another operation is already in progress" is ``Conflict``.
* **Not found**: for a missing Application, or one the token may not get, Argo CD answers
  ``permission denied`` alike, so that existence does not leak; both are ``NotFound`` here.
* Every Application read is remembered in :class:`Scope`, which tells the cluster view
  (argocd_api_cluster.py) whose resource trees hold a namespace's workloads.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any
from urllib.parse import quote

from pipeline.adapters.argocd_http import ApiStream, ArgoCDConnection
from pipeline.core.ports import Conflict, Obj
from pipeline.errors import HiddenNotFound, KubeAccessError

APPS = "/api/v1/applications"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class Scope:
    """The Applications this run has read, by destination namespace."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apps: dict[tuple[str, str], Obj] = {}

    def remember(self, app: Obj) -> None:
        meta = app.get("metadata") or {}
        with self._lock:
            self._apps[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = app

    def apps_in(self, namespace: str) -> list[tuple[str, str]]:
        """(Argo CD namespace, name) of the Applications deploying into ``namespace``."""
        with self._lock:
            known = list(self._apps.items())
        return sorted(key for key, app in known if namespace in _namespaces(app))

    def known(self) -> bool:
        with self._lock:
            return bool(self._apps)


def _namespaces(app: Obj) -> set[str]:
    spec, status = app.get("spec") or {}, app.get("status") or {}
    found = {str((spec.get("destination") or {}).get("namespace") or "")}
    found |= {str(r.get("namespace") or "") for r in status.get("resources") or []}
    return found - {""}


class ArgoApiApplications:
    """Applications and ApplicationSets through the Argo CD API."""

    backend = "argocd-api"

    def __init__(self, conn: ArgoCDConnection, scope: Scope | None = None) -> None:
        self.conn = conn
        self.scope = scope or Scope()
        self.deadline, self.stats = conn.deadline, conn

    def _path(self, name: str, sub: str = "") -> str:
        return f"{APPS}/{quote(name, safe='')}" + (f"/{sub}" if sub else "")

    def get_application(self, namespace: str, name: str) -> Obj:
        what = f"get Application {namespace}/{name}"
        try:
            app = self.conn.request(
                what, "GET", self._path(name), query={"appNamespace": namespace}, verb="get"
            )
        except KubeAccessError as e:
            if e.reason == "argocd-forbidden":
                raise HiddenNotFound(
                    f"Application {namespace}/{name}: Argo CD answered permission denied, which "
                    "it also answers for an Application that does not exist"
                ) from None
            raise
        self.scope.remember(app)
        return app

    def list_applications(self, namespace: str, selector: str = "") -> list[Obj]:
        body = self.conn.request(
            f"list Applications in {namespace}", "GET", APPS,
            query={"appNamespace": namespace, "selector": selector}, verb="list",
        )  # fmt: skip
        items = [a for a in body.get("items") or [] if _in(a, namespace)]
        for app in items:
            self.scope.remember(app)
        return items

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        """The merge patch ``body`` as a JSON patch guarded by the resourceVersion read."""
        body = copy.deepcopy(body)
        wanted = (body.get("metadata") or {}).pop("resourceVersion", None)
        current = self.get_application(namespace, name)
        version = str(current["metadata"].get("resourceVersion") or "")
        if wanted is not None and str(wanted) != version:
            raise Conflict(f"Application {namespace}/{name} changed since it was read")
        merged = merge_patch(current, body)
        ops: list[Obj] = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
        if merged.get("spec") != current.get("spec"):
            ops.append({"op": "add", "path": "/spec", "value": merged.get("spec") or {}})
        for key in ("labels", "annotations", "finalizers"):
            new, old = (merged.get("metadata") or {}).get(key), current["metadata"].get(key)
            if new != old:
                path = f"/metadata/{_pointer(key)}"
                ops.append(
                    {"op": "add", "path": path, "value": new}
                    if new is not None
                    else {"op": "remove", "path": path}
                )
        app = self.conn.request(
            f"patch Application {namespace}/{name}", "PATCH", self._path(name),
            body={"name": name, "appNamespace": namespace, "patchType": "json",
                  "patch": json.dumps(ops, separators=(",", ":"))},
            verb="patch",
        )  # fmt: skip
        self.scope.remember(app)
        return app

    def start_sync(self, namespace: str, name: str, resource_version: str, operation: Obj) -> Obj:
        """``POST .../sync`` with the operation's fields as ``ApplicationSyncRequest`` names."""
        current = self.get_application(namespace, name)
        if str(current["metadata"].get("resourceVersion") or "") != resource_version:
            raise Conflict(f"Application {namespace}/{name} changed since it was read")
        sync = operation.get("sync") or {}
        request: Obj = {
            "name": name,
            "appNamespace": namespace,
            "revision": sync.get("revision", ""),
            "prune": bool(sync.get("prune", False)),
            "dryRun": bool(sync.get("dryRun", False)),
            "infos": operation.get("info") or [],
        }
        if sync.get("syncStrategy"):
            request["strategy"] = sync["syncStrategy"]
        if sync.get("resources"):
            request["resources"] = sync["resources"]
        if sync.get("syncOptions"):
            request["syncOptions"] = {"items": list(sync["syncOptions"])}
        if operation.get("retry"):
            request["retryStrategy"] = operation["retry"]
        app = self.conn.request(
            f"sync Application {namespace}/{name}", "POST", self._path(name, "sync"),
            body=request, verb="sync",
        )  # fmt: skip
        self.scope.remember(app)
        return app

    def terminate_operation(self, namespace: str, name: str, resource_version: str) -> None:
        try:
            self.conn.request(
                f"terminate the operation on {namespace}/{name}", "DELETE",
                self._path(name, "operation"), query={"appNamespace": namespace}, verb="delete",
            )  # fmt: skip
        except KubeAccessError as e:
            if e.reason == "argocd-refused" and "No operation is in progress" in e.message:
                return  # it ended meanwhile: what terminating wanted
            raise

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        try:
            return self.conn.request(
                f"get ApplicationSet {namespace}/{name}", "GET",
                f"/api/v1/applicationsets/{quote(name, safe='')}",
                query={"appsetNamespace": namespace}, verb="get",
            )  # fmt: skip
        except KubeAccessError as e:
            if e.reason == "argocd-forbidden":
                raise HiddenNotFound(
                    f"ApplicationSet {namespace}/{name}: permission denied"
                ) from None
            raise

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> ApplicationEvents:
        stream = self.conn.stream(
            f"watch Application {namespace}/{name}", "/api/v1/stream/applications",
            {"name": name, "appNamespace": namespace, "resourceVersion": resource_version},
            timeout,
        )  # fmt: skip
        return ApplicationEvents(stream, self.scope)

    def can_i(self, resource: str, action: str, obj: str) -> bool | None:
        """Argo CD RBAC's answer (``/api/v1/account/can-i``); None when it gives none."""
        path = f"/api/v1/account/can-i/{resource}/{action}/" + quote(obj, safe="/")
        try:
            body = self.conn.request(f"can-i {resource} {action} {obj}", "GET", path, verb="get")
        except KubeAccessError:
            return None
        return body.get("value") == "yes"


def _in(app: Obj, namespace: str) -> bool:
    return str((app.get("metadata") or {}).get("namespace") or "") == namespace


class ApplicationEvents:
    """``/api/v1/stream/applications`` as ``(type, Application)`` pairs."""

    def __init__(self, stream: ApiStream, scope: Scope) -> None:
        self.stream, self.scope = stream, scope

    def __iter__(self) -> Any:
        for result in self.stream.results():
            app = result.get("application")
            kind = str(result.get("type") or "")
            if isinstance(app, dict) and kind in ("ADDED", "MODIFIED", "DELETED"):
                self.scope.remember(app)
                yield kind, app

    def stop(self) -> None:
        self.stream.stop()
