"""What the handlers of argocd-server's ApplicationService share (``application.go``).

The handlers of ``server/application/application.go`` are split by what they do:
:mod:`.appreads` (List, Get with refresh), :mod:`.appwrites` (Patch, TerminateOperation),
:mod:`.appsync` (Sync: the request made an Operation), :mod:`.appresources` (ResourceTree,
GetResource, ListResourceEvents, GetManifests), :mod:`.appwatch` (Watch, WatchResourceTree)
and :mod:`.podlogs` (PodLogs); :mod:`.routes` maps the endpoints to them.
Every handler takes the authenticated :class:`Caller` and the request's fields (path and
query parameters merged with the JSON body, as grpc-gateway does) and returns the response
message as a dict, or an iterator of messages for server streams. Errors are
:class:`GrpcError`. Applications are read and written through the Kubernetes API.

This module holds :class:`Applications` (the clients the handlers work with, finding an app
with ``getAppEnforceRBAC``, the app's Events), the Application as argocd-server presents it,
its RBAC name, and the decoding of request fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.sandbox.argocdapi.errors import (
    INVALID_ARGUMENT,
    PERMISSION_DENIED,
    GrpcError,
    app_not_found,
    permission_denied,
)
from pipeline.sandbox.argocdapi.session import Caller, Sessions, denied_text
from pipeline.sandbox.argocdapi.tree import build_tree
from pipeline.sandbox.controllers.argocd_source import SourceRenderer
from pipeline.sandbox.controllers.argocd_sync import ResourceMapper
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.kubeclient import KubeClient

Obj = dict[str, Any]
Params = dict[str, Any]
NAMESPACE = "argocd"
STREAM_POLL = 5  # seconds per underlying Kubernetes watch request


def apps_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications"
    return f"{path}/{name}" if name else path


def present(app: Obj) -> Obj:
    """The Application as argocd-server returns it: decoded by a typed clientset, so without
    ``kind``/``apiVersion`` (client-go strips TypeMeta)."""
    out = {k: v for k, v in app.items() if k not in ("kind", "apiVersion")}
    return out


def rbac_name(app: Obj) -> str:
    """``Application.RBACName(argocd ns)``: ``<project>/<name>`` (``<project>/<ns>/<name>``
    outside the control plane's namespace)."""
    project = (app.get("spec") or {}).get("project") or "default"
    meta = app.get("metadata", {})
    if meta.get("namespace", NAMESPACE) == NAMESPACE:
        return f"{project}/{meta.get('name')}"
    return f"{project}/{meta.get('namespace')}/{meta.get('name')}"


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def query_projects(params: Params) -> list[str]:
    """``getProjectsFromApplicationQuery``: ``projects`` (repeated) or legacy ``project``."""
    found: list[str] = []
    for key in ("projects", "project"):
        value = params.get(key)
        if isinstance(value, list):
            found += [str(v) for v in value if v]
        elif value:
            found.append(str(value))
    return found


def unmarshal_error(value: Any, field: str, go_type: str) -> str:
    """The gateway's body decoding error (InvalidArgument with encoding/json's
    UnmarshalTypeError text)."""
    kind = {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}"


class Applications:
    def __init__(
        self,
        kube: KubeClient,
        sessions: Sessions,
        work_dir: Path,
        tree_kube: KubeClient | None = None,
    ) -> None:
        """``kube``: argocd-server's own identity. ``tree_kube``: where resource trees are
        read (the application-controller's view; defaults to ``kube``)."""
        self.kube = kube
        self.sessions = sessions
        self.mapper = ResourceMapper(kube)
        self.tree_kube = tree_kube or kube
        self.tree_mapper = ResourceMapper(self.tree_kube)
        self.renderer = SourceRenderer(work_dir)
        self.recorder = EventRecorder(kube, "argocd-server")

    def namespace(self, params: Params) -> str:
        return str(params.get("appNamespace") or NAMESPACE)

    def enforce_err(self, caller: Caller, resource: str, action: str, obj: str) -> None:
        if not self.sessions.enforce(caller, resource, action, obj):
            raise GrpcError(PERMISSION_DENIED, denied_text(caller, resource, action, obj))

    def _get_app(self, namespace: str, name: str) -> Obj | None:
        if namespace != NAMESPACE:
            return None  # application.namespaces is empty: only the control plane's namespace
        return self.kube.get_or_none(apps_path(namespace, name))

    def get_enforced(
        self, caller: Caller, action: str, project: str, namespace: str, name: str
    ) -> Obj:
        """``getAppEnforceRBAC``: a missing app and a forbidden one are both PermissionDenied
        "permission denied"; with ``project`` given, a missing app (or one in another project)
        is NotFound."""
        if project:
            obj = f"{project}/{name}" if namespace == NAMESPACE else f"{project}/{namespace}/{name}"
            if not self.sessions.enforce(caller, "applications", action, obj):
                self._get_app(namespace, name)
                raise permission_denied()
        app = self._get_app(namespace, name)
        if app is None:
            raise app_not_found(name) if project else permission_denied()
        if not self.sessions.enforce(caller, "applications", action, rbac_name(app)):
            raise app_not_found(name) if project else permission_denied()
        effective = (app.get("spec") or {}).get("project") or "default"
        if project and effective != project:
            raise app_not_found(name)
        if self.sessions.store.project(effective) is None:
            raise GrpcError(
                INVALID_ARGUMENT,
                f'app is not allowed in project "{effective}", or the project does not exist',
            )
        return app

    def tree(self, app: Obj) -> Obj:
        return build_tree(self.tree_kube, self.tree_mapper, app)

    def permitted(self, caller: Caller, app: Obj) -> bool:
        return self.sessions.enforce(caller, "applications", "get", rbac_name(app))

    def event(self, caller: Caller, app: Obj, reason: str, action: str) -> None:
        """``logAppEvent``: a Normal Event on the Application, "<user> <action>"."""
        user = caller.username or "Unknown user"
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}
        self.recorder.event(obj, NORMAL, reason, f"{user} {action}")
