"""ApplicationService reads: ``List`` and ``Get``, including ``Get``'s ``refresh``.

A refresh merge-patches the ``argocd.argoproj.io/refresh`` annotation and blocks until the
application-controller's status write (a higher resourceVersion without the annotation).
"""

from __future__ import annotations

import time

from pipeline.sandbox.argocdapi.applications import (
    NAMESPACE,
    STREAM_POLL,
    Applications,
    Obj,
    Params,
    apps_path,
    as_int,
    present,
    query_projects,
)
from pipeline.sandbox.argocdapi.errors import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    GrpcError,
    unknown,
)
from pipeline.sandbox.argocdapi.session import Caller
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError

REFRESH = "argocd.argoproj.io/refresh"
REFRESH_TIMEOUT = 60.0


class ApplicationReads:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def list_apps(self, caller: Caller, params: Params) -> Obj:
        selector = str(params.get("selector") or "")
        namespace = params.get("appNamespace") or None
        path = apps_path(str(namespace or NAMESPACE))
        try:
            listing = self.apps.kube.list(path, label_selector=selector or None)
        except ApiError as e:
            raise unknown(f"error parsing the selector: {e}") from e
        items = listing.get("items", [])
        name = params.get("name")
        projects = set(query_projects(params))
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
            if self.apps.permitted(caller, app):
                kept.append(present(app))
        kept.sort(key=lambda a: a["metadata"]["name"])
        rv = listing.get("metadata", {}).get("resourceVersion", "")
        return {"metadata": {"resourceVersion": rv}, "items": kept}

    def get(self, caller: Caller, name: str, params: Params) -> Obj:
        projects = query_projects(params)
        if len(projects) > 1:
            raise GrpcError(
                INVALID_ARGUMENT,
                "multiple projects specified - the get endpoint accepts either zero or one project",
            )
        namespace = self.apps.namespace(params)
        project = projects[0] if projects else ""
        app = self.apps.get_enforced(caller, "get", project, namespace, name)
        refresh = params.get("refresh")
        if refresh is None:
            return present(app)
        level = "hard" if refresh == "hard" else "normal"
        try:
            patched = self.apps.kube.patch(
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
        min_rv = as_int(patched["metadata"].get("resourceVersion"))
        deadline = time.monotonic() + REFRESH_TIMEOUT
        rv = patched["metadata"]["resourceVersion"]
        path = apps_path(namespace)
        while time.monotonic() < deadline:
            current = self.apps.kube.get_or_none(apps_path(namespace, name))
            if current is not None and self._refreshed(current, min_rv):
                return current
            timeout = max(1, min(STREAM_POLL, int(deadline - time.monotonic())))
            for event in self.apps.kube.watch(path, rv, timeout_seconds=timeout):
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
        return (
            as_int(app["metadata"].get("resourceVersion")) > min_rv and REFRESH not in annotations
        )


def get_appset(apps: Applications, caller: Caller, name: str, params: Params) -> Obj:
    """ApplicationSetService ``Get`` (``server/applicationset/applicationset.go``
    getAppSetEnforceRBAC): a missing ApplicationSet is NotFound (the k8s error interceptor),
    one the caller may not get is PermissionDenied; the RBAC object is the template's project
    and the ApplicationSet's name."""
    namespace = str(params.get("appsetNamespace") or NAMESPACE)
    if namespace != NAMESPACE:
        raise GrpcError(PERMISSION_DENIED, f"namespace '{namespace}' is not permitted")
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applicationsets/{name}"
    appset = apps.kube.get_or_none(path)
    if appset is None:
        raise GrpcError(
            NOT_FOUND,
            f'error getting ApplicationSet: applicationsets.argoproj.io "{name}" not found',
        )
    template = ((appset.get("spec") or {}).get("template") or {}).get("spec") or {}
    project = template.get("project") or "default"
    apps.enforce_err(caller, "applicationsets", "get", f"{project}/{name}")
    return appset
