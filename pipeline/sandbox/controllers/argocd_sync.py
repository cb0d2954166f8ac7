"""The sync engine of the sandbox Argo CD: apply rendered objects over HTTP.

Follows ``gitops-engine/pkg/sync/sync_context.go`` for a plain (hook-less, wave-less) sync
(reference/argocd-kubernetes.md A.3): the operation succeeds as soon as every apply is accepted,
"EVEN if those objects subsequently degrade"; an apply the API server rejects marks that
resource ``SyncFailed`` and the operation ``Failed`` ("one or more objects failed to apply,
reason: ..."). An object whose kind the cluster does not serve fails the whole operation
before anything is applied: "one or more synchronization tasks are not valid", the object's
result carrying Argo CD's "Make sure the "X" CRD is installed on the destination cluster."
(``util/argo/argo.go`` AugmentSyncMsg), unless its CRD is in the same sync. ``sync.resources``
restricts the sync to the listed objects; ``dryRun`` writes
nothing. Since v3.5 the operation message lists the distinct reasons ("...not valid: <msg>;
<msg>"). The AppProject check of each object (``controller/sync.go`` validateSyncPermissions)
runs in the same pass. The options of :class:`SyncPlan` (``Replace=true``,
``RespectIgnoreDifferences=true``) live in ``argocd_replace`` and ``argocd_ignore``; the
destination namespace (``CreateNamespace=true``) in ``argocd_namespace``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.controllers import argocd_ignore, argocd_replace
from pipeline.sandbox.controllers import argocd_ssa as ssa
from pipeline.sandbox.controllers.argocd_compare import (
    applied,
    group_version,
    in_sync,
    resource_ref,
    with_last_applied,
)
from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]

SUCCEEDED = "Succeeded"
FAILED = "Failed"
ERROR = "Error"
RUNNING = "Running"
TERMINATING = "Terminating"
COMPLETED = (SUCCEEDED, FAILED, ERROR)

# Kinds applied first (gitops-engine sync ordering: namespaces and definitions before users).
_KIND_ORDER = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap")


@dataclass
class SyncOutcome:
    phase: str
    message: str
    resources: list[Obj] = field(default_factory=list)


@dataclass
class SyncPlan:
    """What shapes the sync besides the objects: the effective syncOptions, the app's
    ``ignoreDifferences``, and the AppProject check (object, namespaced) -> refusal or None."""

    options: list[str] = field(default_factory=list)
    ignore: list[Obj] = field(default_factory=list)
    refusal: Callable[[Obj, bool], str | None] | None = None

    def has(self, option: str) -> bool:
        return option in self.options


class KindNotServed(LookupError):
    """The API server does not serve ``kind`` in ``api_version``; ``message`` is the error
    gitops-engine's ``ServerResourceForGroupVersionKind`` reports for it."""

    def __init__(self, api_version: str, kind: str, group_version_missing: bool) -> None:
        self.api_version = api_version
        self.kind = kind
        self.group_version_missing = group_version_missing
        group, _ = group_version(api_version)
        resource = f"{kind}.{group}" if group else kind
        self.message = (
            NOT_FOUND if group_version_missing else f'{resource} "" not found'
        )  # apierrors.NewNotFound(GroupResource{group, kind}, "")
        super().__init__(f'no matches for kind "{kind}" in version "{api_version}"')


NOT_FOUND = "the server could not find the requested resource"


class ResourceMapper:
    """kind -> (plural, namespaced), from the API server's discovery documents."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[str, bool]] = {}

    def lookup(self, api_version: str, kind: str) -> tuple[str, bool]:
        with self._lock:
            found = self._known.get((api_version, kind))
        if found is not None:
            return found
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            listing = self._client.get(path)
        except ApiError as e:
            if e.status == 404:
                raise KindNotServed(api_version, kind, True) from e
            raise
        for resource in listing.get("resources", []):
            if "/" not in resource.get("name", ""):
                with self._lock:
                    self._known[(api_version, resource["kind"])] = (
                        resource["name"],
                        bool(resource.get("namespaced")),
                    )
        with self._lock:
            found = self._known.get((api_version, kind))
        if found is None:
            raise KindNotServed(api_version, kind, False)
        return found

    def forget(self) -> None:
        """Drop what discovery said (CRDs come and go)."""
        with self._lock:
            self._known.clear()

    def served_versions(self, group: str, kind: str) -> list[str]:
        """Versions of ``group`` that serve ``kind`` now (for the "version" message)."""
        groups = self._client.get("/apis").get("groups", []) if group else []
        versions = []
        for entry in groups:
            if entry.get("name") != group:
                continue
            for version in entry.get("versions", []):
                listing = self._client.get_or_none(f"/apis/{version['groupVersion']}") or {}
                if any(r.get("kind") == kind for r in listing.get("resources", [])):
                    versions.append(str(version["version"]))
        return versions

    def path(self, obj: Obj, *, with_name: bool = True) -> str:
        api_version = obj.get("apiVersion", "")
        plural, namespaced = self.lookup(api_version, obj.get("kind", ""))
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        meta = obj.get("metadata", {})
        if namespaced:
            base += f"/namespaces/{meta.get('namespace')}"
        base += f"/{plural}"
        return f"{base}/{meta['name']}" if with_name else base


def kind_label(obj: Obj) -> str:
    """``deployment.apps/name`` as kubectl prints it."""
    group, _ = group_version(obj.get("apiVersion", ""))
    kind = obj.get("kind", "").lower()
    return (
        f"{kind}.{group}/{obj['metadata']['name']}"
        if group
        else f"{kind}/{obj['metadata']['name']}"
    )


def selected(obj: Obj, wanted: list[Obj]) -> bool:
    """``operation.sync.resources`` match (group, kind, name, and namespace when given)."""
    if not wanted:
        return True
    ref = resource_ref(obj)
    return any(
        w.get("kind") == ref["kind"]
        and w.get("name") == ref["name"]
        and (w.get("group") or "") == ref["group"]
        and (not w.get("namespace") or w.get("namespace") == ref["namespace"])
        for w in wanted
    )


def pod_images(obj: Obj) -> list[str]:
    template = (obj.get("spec") or {}).get("template") or {}
    spec = template.get("spec") or obj.get("spec") or {}
    return [
        c["image"]
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        if c.get("image")
    ]


def api_message(error: ApiError) -> str:
    """The Status message the API server answered (what kubectl prints)."""
    body = error.body
    return str(body.get("message", error)) if isinstance(body, dict) else str(error)


def not_valid(invalid: list[Obj]) -> SyncOutcome:
    """``sync_context.go`` Sync when getSyncTasks failed: "one or more synchronization tasks
    are not valid: <distinct messages, sorted, joined by '; '>"."""
    reasons = "; ".join(sorted({r["message"] for r in invalid if r["message"]}))
    message = "one or more synchronization tasks are not valid"
    return SyncOutcome(FAILED, f"{message}: {reasons}" if reasons else message, invalid)


class Syncer:
    def __init__(self, client: KubeClient, mapper: ResourceMapper) -> None:
        self._client = client
        self._mapper = mapper

    def _apply_planned(self, desired: Obj, dry_run: bool, plan: SyncPlan) -> tuple[str, str]:
        """``apply`` after the plan's options: RespectIgnoreDifferences takes the live value
        of ignored fields; Replace replaces or creates instead of applying."""
        respect = plan.ignore and plan.has("RespectIgnoreDifferences=true")
        replace = argocd_replace.wants_replace(plan.options, desired, None)
        if not respect and not replace:
            return self.apply(desired, dry_run)
        try:
            path = self._mapper.path(desired)
            live = self._client.get_or_none(path)
            if respect:
                desired = argocd_ignore.respected(desired, live, plan.ignore)
            if replace or argocd_replace.wants_replace(plan.options, desired, live):
                list_path = self._mapper.path(desired, with_name=False)
                return argocd_replace.replace_object(
                    self._client, path, list_path, desired, kind_label(desired), dry_run
                )
        except ApiError as e:
            return "SyncFailed", api_message(e)
        except LookupError as e:
            return "SyncFailed", str(e)
        return self.apply(desired, dry_run)

    def apply(self, desired: Obj, dry_run: bool) -> tuple[str, str]:
        """Create or update one object; (``Synced``|``SyncFailed``, kubectl-style message)."""
        label = kind_label(desired)
        suffix = " (dry run)" if dry_run else ""
        try:
            path = self._mapper.path(desired)
            for _ in range(3):
                live = self._client.get_or_none(path)
                if live is None:
                    if not dry_run:
                        self._client.create(
                            self._mapper.path(desired, with_name=False), with_last_applied(desired)
                        )
                    return "Synced", f"{label} created{suffix}"
                if in_sync(desired, live):
                    return "Synced", f"{label} unchanged{suffix}"
                if dry_run:
                    return "Synced", f"{label} configured{suffix}"
                try:
                    self._client.replace(path, applied(live, with_last_applied(desired)))
                    return "Synced", f"{label} configured"
                except ApiError as e:
                    if e.status != 409:
                        raise
            return "SyncFailed", f"{label}: conflict applying, retries exhausted"
        except ApiError as e:
            return "SyncFailed", api_message(e)
        except LookupError as e:
            return "SyncFailed", str(e)

    def invalid_tasks(
        self, objects: list[Obj], refusal: Callable[[Obj, bool], str | None] | None = None
    ) -> list[Obj]:
        """gitops-engine ``getSyncTasks``: every object whose kind the cluster does not serve
        is a SyncFailed result (message as Argo CD's ``AugmentSyncMsg`` words it), unless
        the CRD defining it is part of the same sync (then it is applied after the CRD)."""
        self._mapper.forget()
        defined = {
            (
                (o.get("spec") or {}).get("group"),
                ((o.get("spec") or {}).get("names") or {}).get("kind"),
            )
            for o in objects
            if o.get("kind") == "CustomResourceDefinition"
        }
        results = []
        for obj in objects:
            group, version = group_version(obj.get("apiVersion", ""))
            try:
                _, namespaced = self._mapper.lookup(obj.get("apiVersion", ""), obj.get("kind", ""))
                refused = refusal(obj, namespaced) if refusal else None
                if refused:
                    results.append(
                        {**resource_ref(obj), "status": "SyncFailed", "message": refused,
                         "syncPhase": "Sync"}
                    )  # fmt: skip
            except KindNotServed as e:
                if (group, obj.get("kind")) in defined:
                    continue
                message = e.message
                if e.group_version_missing:
                    message = self._augmented(obj, group, version)
                results.append(
                    {**resource_ref(obj), "status": "SyncFailed", "message": message,
                     "syncPhase": "Sync"}
                )  # fmt: skip
        return results

    def _augmented(self, obj: Obj, group: str, version: str) -> str:
        ref = resource_ref(obj)
        kind, where = ref["kind"], f"{ref['namespace']}/{ref['name']}"
        others = self._mapper.served_versions(group, kind)
        if not others:
            return (
                f"The Kubernetes API could not find {group}/{kind} for requested resource "
                f'{where}. Make sure the "{kind}" CRD is installed on the destination cluster.'
            )
        return (
            f'The Kubernetes API could not find version "{version}" of {group}/{kind} for '
            f'requested resource {where}. Version "{others[0]}" of {group}/{kind} is installed '
            "on the destination cluster."
        )

    def sync(
        self, desired: list[Obj], operation_sync: Obj, plan: SyncPlan | None = None
    ) -> SyncOutcome:
        """Apply ``desired`` (already namespaced and tracked) per ``operation.sync``."""
        plan = plan or SyncPlan()
        dry_run = bool(operation_sync.get("dryRun"))
        wanted = list(operation_sync.get("resources") or [])
        objects = sorted(
            (o for o in desired if selected(o, wanted)),
            key=lambda o: _KIND_ORDER.index(o["kind"]) if o.get("kind") in _KIND_ORDER else 99,
        )
        invalid = self.invalid_tasks(objects, plan.refusal)
        if invalid:  # nothing is applied
            return not_valid(invalid)
        results: list[Obj] = []
        failures: list[str] = []
        for obj in objects:
            if ssa.wanted(operation_sync, obj, dry_run):  # ServerSideApply=true
                status, message = ssa.apply(self._client, self._mapper.path, obj, kind_label(obj))
            else:
                status, message = self._apply_planned(obj, dry_run, plan)
            result: Obj = {
                **resource_ref(obj),
                "status": status,
                "message": message,
                "hookPhase": RUNNING if status == "Synced" else FAILED,
                "syncPhase": "Sync",
            }
            images = pod_images(obj)
            if images:
                result["images"] = images
            results.append(result)
            if status != "Synced":
                failures.append(message)
        if failures:
            return SyncOutcome(
                FAILED,
                f"one or more objects failed to apply, reason: {','.join(failures)}",
                results,
            )
        return SyncOutcome(SUCCEEDED, "successfully synced (all tasks run)", results)
