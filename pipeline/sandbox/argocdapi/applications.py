"""The ApplicationService of argocd-server (``server/application/application.go``).

Every handler takes the authenticated :class:`Caller` and the request's fields (path and
query parameters merged with the JSON body, as grpc-gateway does) and returns the response
message as a dict, or an iterator of messages for server streams. Errors are
:class:`GrpcError`. Applications are read and written through the Kubernetes API.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from pipeline.sandbox.apiserver.patch import decode_json_patch, json_patch, merge_patch
from pipeline.sandbox.argocdapi.errors import (
    FAILED_PRECONDITION,
    INTERNAL,
    INVALID_ARGUMENT,
    PERMISSION_DENIED,
    GrpcError,
    app_not_found,
    permission_denied,
    unknown,
)
from pipeline.sandbox.argocdapi.session import Caller, Sessions, denied_text
from pipeline.sandbox.argocdapi.tree import build_tree
from pipeline.sandbox.controllers.argocd_compare import with_tracking
from pipeline.sandbox.controllers.argocd_source import SourceError, SourceRenderer
from pipeline.sandbox.controllers.argocd_sync import ResourceMapper
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient

Obj = dict[str, Any]
Params = dict[str, Any]
NAMESPACE = "argocd"
REFRESH = "argocd.argoproj.io/refresh"
REFRESH_TIMEOUT = 60.0
STREAM_POLL = 5  # seconds per underlying Kubernetes watch request
TREE_POLL = 1.0
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


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


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1")


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _projects(params: Params) -> list[str]:
    """``getProjectsFromApplicationQuery``: ``projects`` (repeated) or legacy ``project``."""
    found: list[str] = []
    for key in ("projects", "project"):
        value = params.get(key)
        if isinstance(value, list):
            found += [str(v) for v in value if v]
        elif value:
            found.append(str(value))
    return found


class ApplicationService:
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

    # --- helpers -------------------------------------------------------------------------

    def _namespace(self, params: Params) -> str:
        return str(params.get("appNamespace") or NAMESPACE)

    def _enforce_err(self, caller: Caller, resource: str, action: str, obj: str) -> None:
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

    def _tree(self, app: Obj) -> Obj:
        return build_tree(self.tree_kube, self.tree_mapper, app)

    def _permitted(self, caller: Caller, app: Obj) -> bool:
        return self.sessions.enforce(caller, "applications", "get", rbac_name(app))

    # --- unary ---------------------------------------------------------------------------

    def list_apps(self, caller: Caller, params: Params) -> Obj:
        selector = str(params.get("selector") or "")
        namespace = params.get("appNamespace") or None
        path = apps_path(str(namespace or NAMESPACE))
        try:
            listing = self.kube.list(path, label_selector=selector or None)
        except ApiError as e:
            raise unknown(f"error parsing the selector: {e}") from e
        items = listing.get("items", [])
        name = params.get("name")
        projects = set(_projects(params))
        repo = str(params.get("repo") or "")
        kept = []
        for app in items:
            if name and app["metadata"]["name"] != name:
                continue
            if projects and ((app.get("spec") or {}).get("project") or "") not in projects:
                continue
            source = (app.get("spec") or {}).get("source") or {}
            if repo and source.get("repoURL", "").rstrip("/") != repo.rstrip("/"):
                continue
            if self._permitted(caller, app):
                kept.append(present(app))
        kept.sort(key=lambda a: a["metadata"]["name"])
        rv = listing.get("metadata", {}).get("resourceVersion", "")
        return {"metadata": {"resourceVersion": rv}, "items": kept}

    def get(self, caller: Caller, name: str, params: Params) -> Obj:
        projects = _projects(params)
        if len(projects) > 1:
            raise GrpcError(
                INVALID_ARGUMENT,
                "multiple projects specified - the get endpoint accepts either zero or one project",
            )
        namespace = self._namespace(params)
        project = projects[0] if projects else ""
        app = self.get_enforced(caller, "get", project, namespace, name)
        refresh = params.get("refresh")
        if refresh is None:
            return present(app)
        level = "hard" if refresh == "hard" else "normal"
        try:
            patched = self.kube.patch(
                apps_path(namespace, name),
                {"metadata": {"annotations": {REFRESH: level}}},
                MERGE_PATCH,
            )
        except ApiError as e:
            raise unknown(f"error refreshing the app: {e}") from e
        return present(self._wait_refreshed(namespace, name, patched))

    def _wait_refreshed(self, namespace: str, name: str, patched: Obj) -> Obj:
        """Block until the app's resourceVersion passes the patched one without the refresh
        annotation (the controller's status write removes it)."""
        min_rv = _int(patched["metadata"].get("resourceVersion"))
        deadline = time.monotonic() + REFRESH_TIMEOUT
        rv = patched["metadata"]["resourceVersion"]
        path = apps_path(namespace)
        while time.monotonic() < deadline:
            current = self.kube.get_or_none(apps_path(namespace, name))
            if current is not None and self._refreshed(current, min_rv):
                return current
            timeout = max(1, min(STREAM_POLL, int(deadline - time.monotonic())))
            for event in self.kube.watch(path, rv, timeout_seconds=timeout):
                if event["type"] == "ERROR":
                    break
                obj = event["object"]
                rv = obj.get("metadata", {}).get("resourceVersion", rv)
                if obj["metadata"].get("name") == name and self._refreshed(obj, min_rv):
                    return dict(obj)
        raise unknown("application refresh deadline exceeded")

    @staticmethod
    def _refreshed(app: Obj, min_rv: int) -> bool:
        annotations = app["metadata"].get("annotations") or {}
        return _int(app["metadata"].get("resourceVersion")) > min_rv and REFRESH not in annotations

    def patch(self, caller: Caller, name: str, params: Params) -> Obj:
        """``Patch``: the server applies the patch to its copy, then persists only spec,
        labels, annotations and finalizers (``updateApp`` with merge=false)."""
        namespace = self._namespace(params)
        project = str(params.get("project") or "")
        app = self.get_enforced(caller, "get", project, namespace, name)
        self._enforce_err(caller, "applications", "update", rbac_name(app))
        raw_patch = params.get("patch")
        if raw_patch is not None and not isinstance(raw_patch, str):
            raise GrpcError(
                INVALID_ARGUMENT,
                _unmarshal_error(raw_patch, "ApplicationPatchRequest.patch", "string"),
            )
        patch_text = raw_patch or ""
        patch_type = params.get("patchType") or ""
        original = present(app)
        if patch_type in ("json", ""):
            try:
                ops = decode_json_patch(patch_text.encode())
            except Exception as e:
                raise unknown(f"error decoding json patch: {_text(e)}") from e
            try:
                patched = json_patch(copy.deepcopy(original), ops)
            except Exception as e:
                raise unknown(f"error applying patch: {_text(e)}") from e
        elif patch_type == "merge":
            try:
                patched = merge_patch(copy.deepcopy(original), json.loads(patch_text))
            except ValueError as e:
                raise unknown(f"error calculating merge patch: {e}") from e
        else:
            raise GrpcError(INVALID_ARGUMENT, f"Patch type '{patch_type}' is not supported")
        if not isinstance(patched, dict):
            raise unknown("error unmarshaling patched app: not an object")
        return present(self._validate_and_update(caller, patched, project))

    def _validate_and_update(self, caller: Caller, new_app: Obj, project: str) -> Obj:
        meta = new_app.get("metadata") or {}
        namespace = str(meta.get("namespace") or NAMESPACE)
        name = str(meta.get("name") or "")
        app = self.get_enforced(caller, "update", project, namespace, name)
        new_project = (new_app.get("spec") or {}).get("project") or "default"
        if new_project != ((app.get("spec") or {}).get("project") or "default"):
            moved = dict(new_app, metadata=meta)
            self._enforce_err(caller, "applications", "update", rbac_name(moved))
        if self.sessions.store.project(new_project) is None:
            raise unknown(
                "error validating and normalizing app: error getting application's project: "
                f'app is not allowed in project "{new_project}", or the project does not exist'
            )
        for _ in range(10):
            app["spec"] = new_app.get("spec")
            app["metadata"]["labels"] = meta.get("labels") or {}
            app["metadata"]["annotations"] = meta.get("annotations") or {}
            app["metadata"]["finalizers"] = meta.get("finalizers") or []
            for key in ("labels", "annotations", "finalizers"):
                if not app["metadata"][key]:
                    del app["metadata"][key]
            try:
                updated = self.kube.replace(apps_path(namespace, name), app)
            except ApiError as e:
                if e.status != 409:
                    raise unknown(f"error updating application: {e}") from e
                app = self.kube.get(apps_path(namespace, name))
                continue
            self._event(caller, updated, "ResourceUpdated", "updated application spec")
            return updated
        raise GrpcError(INTERNAL, "Failed to update application. Too many conflicts")

    def sync(self, caller: Caller, name: str, params: Params) -> Obj:
        """``Sync``: build the Operation and write it with ``argo.SetAppOperation``."""
        namespace = self._namespace(params)
        app = self.get_enforced(caller, "get", str(params.get("project") or ""), namespace, name)
        self._enforce_err(caller, "applications", "sync", rbac_name(app))
        manifests = params.get("manifests")
        if manifests is not None:
            self._enforce_err(caller, "applications", "override", rbac_name(app))
            if _auto_sync(app) and not _bool(params.get("dryRun")):
                raise GrpcError(
                    FAILED_PRECONDITION,
                    "cannot use local sync when Automatic Sync Policy is enabled unless for "
                    "dry run",
                )
        if app["metadata"].get("deletionTimestamp"):
            raise GrpcError(FAILED_PRECONDITION, "application is deleting")
        spec = app.get("spec") or {}
        if spec.get("sources"):
            raise GrpcError(INVALID_ARGUMENT, "multi-source applications are not supported here")
        source = spec.get("source") or {}
        policy = spec.get("syncPolicy") or {}
        requested = str(params.get("revision") or "")
        target = str(source.get("targetRevision") or "")
        if (
            requested
            and requested != (target or "HEAD")
            and _auto_sync(app)
            and not _bool(params.get("dryRun"))
        ):
            raise GrpcError(
                FAILED_PRECONDITION,
                f"Cannot sync to {requested}: auto-sync currently set to {target}",
            )
        ambiguous = requested or target  # getAmbiguousRevision
        revision, display = "", ""
        if manifests is None:
            revision, display = _resolve(self.renderer, str(source.get("repoURL", "")), ambiguous)
        retry = params["retryStrategy"] if params.get("retryStrategy") is not None else None
        if retry is None:
            retry = policy.get("retry")
        options = policy.get("syncOptions") or []
        if params.get("syncOptions") is not None and not isinstance(params["syncOptions"], dict):
            raise GrpcError(
                INVALID_ARGUMENT,
                _unmarshal_error(
                    params["syncOptions"],
                    "ApplicationSyncRequest.syncOptions",
                    "application.SyncOptions",
                ),
            )
        if params.get("syncOptions") is not None:
            options = (params.get("syncOptions") or {}).get("items") or []
        sync: Obj = {"source": copy.deepcopy(source), "revision": revision}
        if _bool(params.get("prune")):
            sync["prune"] = True
        if _bool(params.get("dryRun")):
            sync["dryRun"] = True
        if options:
            sync["syncOptions"] = list(options)
        if params.get("strategy"):
            sync["syncStrategy"] = params["strategy"]
        resources = [r for r in params.get("resources") or [] if r]
        if resources:
            sync["resources"] = resources
        if manifests:
            sync["manifests"] = list(manifests)
        operation: Obj = {"sync": sync, "initiatedBy": _initiator(caller)}
        if params.get("infos"):
            operation["info"] = list(params["infos"])
        operation["retry"] = copy.deepcopy(retry) if retry else {}
        updated = self._set_operation(namespace, name, operation)
        partial = "partial " if resources else ""
        reason = f"initiated {partial}sync to {display}"
        if manifests is not None:
            reason = f"initiated {partial}sync locally"
        self._event(caller, updated, "OperationStarted", reason)
        return present(updated)

    def _set_operation(self, namespace: str, name: str, operation: Obj) -> Obj:
        """``util/argo SetAppOperation``: GET; refuse when ``.operation`` is set; set it and
        drop ``status.operationState``; Update with the read resourceVersion; on 409 again."""
        while True:
            app = self.kube.get_or_none(apps_path(namespace, name))
            if app is None:
                raise unknown(
                    "error setting app operation: error getting application "
                    f'"{name}": applications.argoproj.io "{name}" not found'
                )
            if app.get("operation") is not None:
                raise GrpcError(
                    FAILED_PRECONDITION,
                    "error setting app operation: another operation is already in progress",
                )
            app["operation"] = operation
            (app.get("status") or {}).pop("operationState", None)
            try:
                return self.kube.replace(apps_path(namespace, name), app)
            except ApiError as e:
                if e.status != 409:
                    raise unknown(
                        f'error setting app operation: error updating application "{name}": {e}'
                    ) from e

    def terminate(self, caller: Caller, name: str, params: Params) -> Obj:
        namespace = self._namespace(params)
        app = self.get_enforced(caller, "sync", str(params.get("project") or ""), namespace, name)
        for _ in range(10):
            state = (app.get("status") or {}).get("operationState")
            if app.get("operation") is None or state is None:
                raise GrpcError(
                    INVALID_ARGUMENT, "Unable to terminate operation. No operation is in progress"
                )
            state["phase"] = "Terminating"
            try:
                updated = self.kube.replace(apps_path(namespace, name), app)
            except ApiError as e:
                if e.status != 409:
                    raise unknown(f"error updating application: {e}") from e
                app = self.kube.get(apps_path(namespace, name))
                continue
            self._event(caller, updated, "ResourceUpdated", "terminated running operation")
            return {}
        raise GrpcError(INTERNAL, "Failed to terminate app. Too many conflicts")

    def resource_tree(self, caller: Caller, name: str, params: Params) -> Obj:
        app = self.get_enforced(
            caller, "get", str(params.get("project") or ""), self._namespace(params), name
        )
        return self._tree(app)

    def resource(self, caller: Caller, name: str, params: Params) -> Obj:
        """``GetResource``: the live object, found in the app's tree, as JSON text."""
        app = self.get_enforced(
            caller, "get", str(params.get("project") or ""), self._namespace(params), name
        )
        group, kind = str(params.get("group") or ""), str(params.get("kind") or "")
        res_ns, res_name = str(params.get("namespace") or ""), str(params.get("resourceName") or "")
        tree = self._tree(app)
        node = next(
            (
                n
                for n in tree["nodes"]
                if n["group"] == group
                and n["kind"] == kind
                and n["namespace"] == res_ns
                and n["name"] == res_name
            ),
            None,
        )
        if node is None or not node.get("uid"):
            raise GrpcError(
                INVALID_ARGUMENT,
                f"{kind} {group} {res_name} not found as part of application {name}",
            )
        version = str(params.get("version") or node.get("version", ""))
        api_version = f"{group}/{version}" if group else version
        ref = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"namespace": res_ns, "name": res_name},
        }
        try:
            live = self.kube.get(self.mapper.path(ref))
        except (ApiError, LookupError) as e:
            raise unknown(f"error getting resource: {e}") from e
        if kind == "Secret" and group == "":
            live = _mask_secret(live)
        return {"manifest": json.dumps(live, separators=(",", ":"))}

    def events(self, caller: Caller, name: str, params: Params) -> Obj:
        app = self.get_enforced(
            caller, "get", str(params.get("project") or ""), self._namespace(params), name
        )
        resource_name = params.get("resourceName")
        resource_uid = params.get("resourceUID")
        if not resource_name and not resource_uid:
            namespace = app["metadata"]["namespace"]
            fields = {
                "involvedObject.name": name,
                "involvedObject.uid": app["metadata"].get("uid", ""),
                "involvedObject.namespace": namespace,
            }
        else:
            tree = self._tree(app)
            namespace = str(params.get("resourceNamespace") or "")
            if not any(
                n.get("uid") == resource_uid and n["name"] == resource_name
                and n["namespace"] == namespace
                for n in tree["nodes"]
            ):  # fmt: skip
                raise GrpcError(
                    INVALID_ARGUMENT, f"{resource_name} not found as part of application {name}"
                )
            fields = {
                "involvedObject.name": str(resource_name),
                "involvedObject.uid": str(resource_uid),
                "involvedObject.namespace": namespace,
            }
        selector = ",".join(f"{k}={v}" for k, v in sorted(fields.items()))
        try:
            listing = self.kube.list(
                f"/api/v1/namespaces/{namespace}/events", field_selector=selector
            )
        except ApiError as e:
            raise unknown(f"error listing resource events: {e}") from e
        items = [
            {k: v for k, v in e.items() if k not in ("kind", "apiVersion")}
            for e in listing.get("items", [])
        ]
        return {
            "metadata": {"resourceVersion": listing.get("metadata", {}).get("resourceVersion", "")},
            "items": items,
        }

    def manifests(self, caller: Caller, name: str, params: Params) -> Obj:
        """``GetManifests``: the rendered target manifests (JSON strings) at ``revision``."""
        app = self.get_enforced(
            caller, "get", str(params.get("project") or ""), self._namespace(params), name
        )
        spec = app.get("spec") or {}
        source = spec.get("source") or {}
        destination = spec.get("destination") or {}
        try:
            rendered = self.renderer.render(source, str(params.get("revision") or "") or None)
        except SourceError as e:
            raise unknown(f"error generating manifests: {e}") from e
        namespace = destination.get("namespace") or ""
        manifests = [
            json.dumps(
                with_tracking(obj, name, None if obj.get("kind") in _CLUSTER_SCOPED else namespace),
                separators=(",", ":"),
            )
            for obj in rendered.objects
        ]
        return {
            "manifests": manifests,
            "namespace": namespace,
            "server": destination.get("server", ""),
            "revision": rendered.revision,
            "sourceType": rendered.source_type,
        }

    # --- streams -------------------------------------------------------------------------

    def watch(self, caller: Caller, params: Params, stop: threading.Event) -> Iterator[Obj | None]:
        """``Watch``: ADDED for every permitted app first when ``name`` is given or no
        ``resourceVersion`` is; then live events with resourceVersion >= the given one. Nothing
        missed while disconnected is replayed (the real server subscribes to its informer)."""
        name = str(params.get("name") or "")
        namespace = self._namespace(params)
        selector = str(params.get("selector") or "") or None
        projects = set(_projects(params))
        min_rv = _int(params.get("resourceVersion"))
        path = apps_path(NAMESPACE)
        try:
            listing = self.kube.list(path, label_selector=selector)
        except ApiError as e:
            raise unknown(f"error parsing labels with selectors: {e}") from e

        def permitted(app: Obj) -> bool:
            if projects and ((app.get("spec") or {}).get("project") or "") not in projects:
                return False
            if _int(app["metadata"].get("resourceVersion")) < min_rv:
                return False
            if name and (app["metadata"]["name"] != name or namespace != NAMESPACE):
                return False
            return self._permitted(caller, app)

        def frame(kind: str, app: Obj) -> Obj:
            return {"result": {"type": kind, "application": present(app)}}

        first = []
        if not params.get("resourceVersion") or name:
            items = sorted(listing.get("items", []), key=lambda a: a["metadata"]["name"])
            first = [frame("ADDED", a) for a in items if permitted(a)]
        return self._watch_stream(
            first, path, listing["metadata"]["resourceVersion"], selector, permitted, frame, stop
        )

    def _watch_stream(
        self,
        first: list[Obj],
        path: str,
        rv: str,
        selector: str | None,
        permitted: Callable[[Obj], bool],
        frame: Callable[[str, Obj], Obj],
        stop: threading.Event,
    ) -> Iterator[Obj | None]:
        yield from first
        yield None  # headers and the initial frames go out now
        while not stop.is_set():
            try:
                for event in self.kube.watch(
                    path, rv, timeout_seconds=STREAM_POLL, label_selector=selector
                ):
                    if event["type"] == "ERROR":
                        listing = self.kube.list(path, label_selector=selector)
                        rv = listing["metadata"]["resourceVersion"]
                        for app in listing.get("items", []):
                            if permitted(app):
                                yield frame("MODIFIED", app)
                        break
                    obj = event["object"]
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED") and permitted(obj):
                        yield frame(event["type"], obj)
                    if stop.is_set():
                        return
            except (requests.RequestException, ApiError):
                stop.wait(0.5)
            yield None  # a chance to notice a client that went away

    def watch_tree(
        self, caller: Caller, name: str, params: Params, stop: threading.Event
    ) -> Iterator[Obj | None]:
        """``WatchResourceTree``: the tree now, then again whenever it changes."""
        namespace = self._namespace(params)
        project = str(params.get("project") or "")
        self.get_enforced(caller, "get", project, namespace, name)

        def stream() -> Iterator[Obj | None]:
            last: Obj | None = None
            while not stop.is_set():
                app = self.kube.get_or_none(apps_path(namespace, name))
                if app is None:
                    return
                tree = self._tree(app)
                if tree != last:
                    last = tree
                    yield {"result": tree}
                else:
                    yield None
                stop.wait(TREE_POLL)

        return stream()

    def pod_logs(
        self, caller: Caller, name: str, params: Params, stop: threading.Event
    ) -> Iterator[Obj | None]:
        """``PodLogs``: every selected pod of the tree (the pod itself, or pods under the named
        resource), ``{"result": {content, timeStamp, timeStampStr, last, podName}}`` per line and
        a final ``last: true`` entry; ``follow`` keeps reading until the client leaves."""
        if params.get("podName"):
            params = dict(params, kind="Pod", resourceName=params["podName"])
        namespace = self._namespace(params)
        app = self.get_enforced(caller, "get", str(params.get("project") or ""), namespace, name)
        self._enforce_err(caller, "logs", "get", rbac_name(app))
        tree = self._tree(app)
        pods = _selected_pods(tree["nodes"], params)
        container = str(params.get("container") or "")
        previous = _bool(params.get("previous"))
        tail = _int(params.get("tailLines"))
        follow = _bool(params.get("follow"))
        filter_text = str(params.get("filter") or "")
        match_case = _bool(params.get("matchCase"))

        def keep(line: str) -> bool:
            if not filter_text:
                return True
            inverse = filter_text.startswith("!")
            literal = filter_text[1:] if inverse else filter_text
            hit = literal in line if match_case else literal.lower() in line.lower()
            return hit != inverse

        def entry(pod: str, line: str, last: bool) -> Obj:
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            nanos = f"{now % 1:.9f}"[1:].rstrip("0").rstrip(".")
            return {
                "result": {
                    "content": line,
                    "timeStamp": stamp + "Z",
                    "last": last,
                    "timeStampStr": f"{stamp}{nanos}Z",
                    "podName": pod,
                }
            }

        def stream() -> Iterator[Obj | None]:
            if not pods:
                return
            seen: dict[str, int] = {}
            while True:
                for pod in pods:
                    lines = self._read_log(pod, container, previous).splitlines()
                    if pod["name"] not in seen:
                        start = max(len(lines) - tail, 0) if tail > 0 else 0
                    else:
                        start = seen[pod["name"]]
                        if start > len(lines):
                            start = 0  # a new log (the container restarted)
                    seen[pod["name"]] = len(lines)
                    for line in lines[start:]:
                        if keep(line):
                            yield entry(pod["name"], line, False)
                if not follow or stop.is_set():
                    break
                yield None
                if stop.wait(1.0):
                    break
            yield entry("", "", True)

        return stream()

    def _read_log(self, pod: Obj, container: str, previous: bool) -> str:
        params = {}
        if container:
            params["container"] = container
        if previous:
            params["previous"] = "true"
        url = f"{self.kube.base_url}/api/v1/namespaces/{pod['namespace']}/pods/{pod['name']}/log"
        resp = self.kube._session().get(url, params=params, timeout=30)
        if resp.status_code >= 400:
            try:
                return str(resp.json().get("message", resp.text))
            except ValueError:
                return resp.text
        return resp.text

    # --- events --------------------------------------------------------------------------

    def _event(self, caller: Caller, app: Obj, reason: str, action: str) -> None:
        """``logAppEvent``: a Normal Event on the Application, "<user> <action>"."""
        user = caller.username or "Unknown user"
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}
        self.recorder.event(obj, NORMAL, reason, f"{user} {action}")


def _auto_sync(app: Obj) -> bool:
    """``SyncPolicy.IsAutomatedSyncEnabled``: ``automated`` set, ``enabled`` not false."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return isinstance(automated, dict) and automated.get("enabled") is not False


def _resolve(renderer: SourceRenderer, repo_url: str, ambiguous: str) -> tuple[str, str]:
    """``resolveRevision`` + repo-server ``ResolveRevision``: a commit SHA is taken as it is;
    anything else is resolved with git and displayed as "<ambiguous> (<sha>)". A failure is
    FailedPrecondition "error resolving repo revision: ..."."""
    if re.fullmatch(r"[0-9a-f]{40}", ambiguous):
        return ambiguous, ambiguous
    try:
        revision = renderer.resolve(repo_url, ambiguous)
    except SourceError as e:
        raise GrpcError(FAILED_PRECONDITION, f"error resolving repo revision: {e}") from e
    return revision, f"{ambiguous} ({revision})"


def _unmarshal_error(value: Any, field: str, go_type: str) -> str:
    """The gateway's body decoding error (InvalidArgument with encoding/json's
    UnmarshalTypeError text)."""
    kind = {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}"


def _initiator(caller: Caller) -> Obj:
    return {"username": caller.username} if caller.username else {}


def _text(e: Exception) -> str:
    message = getattr(e, "message", None) or getattr(e, "status", None)
    if isinstance(message, dict):
        return str(message.get("message", e))
    return str(message or e)


def _mask_secret(secret: Obj) -> Obj:
    """``replaceSecretValues``: every value becomes ``++++++++``."""
    masked = copy.deepcopy(secret)
    for key in ("data", "stringData"):
        if isinstance(masked.get(key), dict):
            masked[key] = dict.fromkeys(masked[key], "++++++++")
    return masked


def _selected_pods(nodes: list[Obj], params: Params) -> list[Obj]:
    """``getSelectedPods``/``isTheSelectedOne``: pods matching the query or under a match."""
    by_ref = {(n["group"], n["kind"], n["namespace"], n["name"]): n for n in nodes}

    def matches(node: Obj) -> bool:
        return all(
            not params.get(key) or node.get(field) == params.get(key)
            for key, field in (
                ("resourceName", "name"),
                ("kind", "kind"),
                ("group", "group"),
                ("namespace", "namespace"),
            )
        )

    def selected(node: Obj, depth: int = 0) -> bool:
        if matches(node):
            return True
        for parent in node.get("parentRefs") or []:
            key = (
                parent.get("group", ""),
                parent["kind"],
                parent.get("namespace", ""),
                parent["name"],
            )
            if key in by_ref and depth < 10 and selected(by_ref[key], depth + 1):
                return True
        return False

    return [
        n for n in nodes if n["kind"] == "Pod" and n["group"] == "" and n.get("uid") and selected(n)
    ]
