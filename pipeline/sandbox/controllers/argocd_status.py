"""The reconcile status of an Application (reference/argocd-kubernetes.md A.5).

One merge patch on the main resource (the CRD has no status subresource) writes
``status.{sync, health, resources, summary, reconciledAt, sourceType, conditions}`` and removes
the ``argocd.argoproj.io/refresh`` annotation (v3.5 ``persistAppStatus``). A source that cannot
be rendered gives sync status ``Unknown`` and a ``ComparisonError`` condition; an Application
whose ``spec.project`` names no AppProject gets sync and health ``Unknown`` and an
``InvalidSpecError`` condition "Application referencing project X which does not exist".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers.argocd_compare import in_sync, resource_ref
from pipeline.sandbox.controllers.argocd_health import app_health, summary_images
from pipeline.sandbox.controllers.argocd_ignore import normalized
from pipeline.sandbox.controllers.argocd_operation import rfc3339
from pipeline.sandbox.controllers.argocd_source import Rendered
from pipeline.sandbox.controllers.argocd_sync import ResourceMapper
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient

Obj = dict[str, Any]
REFRESH = "argocd.argoproj.io/refresh"
# condition types every refresh evaluates again (appcontroller.go refreshAppConditions)
_REEVALUATED = ("ComparisonError", "InvalidSpecError")


def _condition(kind: str, message: str, now: float, old: list[Obj]) -> Obj:
    for existing in old:
        if existing.get("type") == kind and existing.get("message") == message:
            return existing
    return {"type": kind, "message": message, "lastTransitionTime": rfc3339(now)}


def compared_to(spec: Obj) -> Obj:
    """``status.sync.comparedTo``: the source and destination the comparison was made for."""
    return {"source": spec.get("source"), "destination": spec.get("destination")}


class StatusBuilder:
    def __init__(
        self, client: KubeClient, mapper: ResourceMapper, clock: Callable[[], float]
    ) -> None:
        self._client = client
        self._mapper = mapper
        self._clock = clock

    def _live(self, obj: Obj) -> Obj | None:
        try:
            return self._client.get_or_none(self._mapper.path(obj))
        except LookupError:
            return None

    def _tree(self, namespaces: set[str]) -> tuple[list[Obj], list[Obj]]:
        replica_sets: list[Obj] = []
        pods: list[Obj] = []
        for namespace in sorted(namespaces):
            replica_sets += self._client.list(
                f"/apis/apps/v1/namespaces/{namespace}/replicasets"
            ).get("items", [])
            pods += self._client.list(f"/api/v1/namespaces/{namespace}/pods").get("items", [])
        return replica_sets, pods

    def _base_patch(self, app: Obj, status: Obj) -> Obj:
        patch: Obj = {"status": status}
        if REFRESH in (app["metadata"].get("annotations") or {}):
            patch["metadata"] = {"annotations": {REFRESH: None}}
        return patch

    def write(
        self,
        app: Obj,
        rendered: Rendered,
        desired: list[Obj],
        path: str,
        permitted: Callable[[Obj], bool] | None = None,
    ) -> Obj:
        """Compare, write the status, and return ``{sync, health, revision, out_of_sync}``.
        Fields ``spec.ignoreDifferences`` names are left out of the comparison; a resource the
        project does not permit (``permitted`` false) is listed ``Unknown``."""
        now = self._clock()
        spec = app.get("spec") or {}
        old = app.get("status") or {}
        ignore = list(spec.get("ignoreDifferences") or [])
        resources: list[Obj] = []
        lives: list[Obj | None] = []
        out_of_sync: list[Obj] = []
        for obj in desired:
            live = self._live(obj)
            ref = resource_ref(obj)
            synced = live is not None and in_sync(
                normalized(obj, ignore, live), normalized(live, ignore, live)
            )
            entry: Obj = {**ref, "status": "Synced" if synced else "OutOfSync"}
            if permitted is not None and not permitted(obj):
                entry["status"] = "Unknown"
            lives.append(live)
            if not synced:
                out_of_sync.append({k: ref[k] for k in ("group", "kind", "name", "namespace")})
            resources.append(entry)
        resources.sort(key=lambda r: (r["group"], r["kind"], r["namespace"], r["name"]))
        live_objects = [o for o in lives if o is not None]
        sync_status = "OutOfSync" if out_of_sync else "Synced"
        health_status = app_health(lives)
        namespaces = {o["metadata"].get("namespace") for o in live_objects} - {None, ""}
        try:
            replica_sets, pods = self._tree({str(n) for n in namespaces})
        except ApiError:
            replica_sets, pods = [], []
        old_health = old.get("health") or {}
        health: Obj = {"status": health_status, "message": None}  # v3.5 writes none
        health["lastTransitionTime"] = (
            old_health.get("lastTransitionTime")
            if old_health.get("status") == health_status and old_health.get("lastTransitionTime")
            else rfc3339(now)
        )
        old_conditions = [
            c for c in old.get("conditions") or [] if c.get("type") not in _REEVALUATED
        ]
        status: Obj = {
            "sync": {
                "status": sync_status,
                "revision": rendered.revision,
                "comparedTo": compared_to(spec),
            },
            "health": health,
            "resources": resources,
            "summary": {"images": summary_images(live_objects, replica_sets, pods)},
            "reconciledAt": rfc3339(now),
            "sourceType": rendered.source_type,
            "resourceHealthSource": "appTree",
            "controllerNamespace": app["metadata"].get("namespace"),
            "conditions": old_conditions or None,
        }
        self._client.patch(path, self._base_patch(app, status), MERGE_PATCH)
        return {
            "sync": sync_status,
            "health": health_status,
            "revision": rendered.revision,
            "out_of_sync": out_of_sync,
        }

    def write_error(self, app: Obj, message: str, path: str) -> None:
        now = self._clock()
        spec = app.get("spec") or {}
        old = app.get("status") or {}
        others = [c for c in old.get("conditions") or [] if c.get("type") != "ComparisonError"]
        condition = _condition(
            "ComparisonError",
            f"Failed to load target state: {message}",
            now,
            old.get("conditions") or [],
        )
        status: Obj = {
            "sync": {"status": "Unknown", "comparedTo": compared_to(spec)},
            "reconciledAt": rfc3339(now),
            "conditions": [*others, condition],
        }
        self._client.patch(path, self._base_patch(app, status), MERGE_PATCH)

    def write_invalid_spec(self, app: Obj, messages: list[str], path: str) -> None:
        """``refreshAppConditions`` found spec errors (a missing AppProject, a repository or
        destination the project does not permit): sync and health ``Unknown`` (health message
        cleared), one ``InvalidSpecError`` condition each, nothing compared or synced."""
        now = self._clock()
        spec = app.get("spec") or {}
        old = app.get("status") or {}
        others = [c for c in old.get("conditions") or [] if c.get("type") not in _REEVALUATED]
        earlier = old.get("conditions") or []
        found = [_condition("InvalidSpecError", m, now, earlier) for m in messages]
        status: Obj = {
            "sync": {"status": "Unknown", "comparedTo": compared_to(spec)},
            "health": {"status": "Unknown", "message": None, "lastTransitionTime": rfc3339(now)},
            "reconciledAt": rfc3339(now),
            "conditions": [*others, *found],
        }
        old_health = old.get("health") or {}
        if old_health.get("status") == "Unknown" and old_health.get("lastTransitionTime"):
            status["health"]["lastTransitionTime"] = old_health["lastTransitionTime"]
        self._client.patch(path, self._base_patch(app, status), MERGE_PATCH)


def record_transitions(events: EventRecorder, app: Obj, comparison: Obj) -> None:
    """ResourceUpdated events for sync and health status changes (persistAppStatus)."""
    old = app.get("status") or {}
    for key, title in (("sync", "sync"), ("health", "health")):
        before = (old.get(key) or {}).get("status")
        if before and before != comparison[key]:
            message = f"Updated {title} status: {before} -> {comparison[key]}"
            events.event(app, NORMAL, "ResourceUpdated", message)
