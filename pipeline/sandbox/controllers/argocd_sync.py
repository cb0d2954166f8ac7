"""The sync engine of the sandbox Argo CD: apply rendered objects over HTTP.

Follows ``gitops-engine/pkg/sync/sync_context.go`` for a plain (hook-less, wave-less) sync
(reference/argocd-kubernetes.md A.3): the operation succeeds as soon as every apply is accepted,
"EVEN if those objects subsequently degrade"; an apply the API server rejects marks that
resource ``SyncFailed`` and the operation ``Failed`` ("one or more objects failed to apply,
reason: ..."). ``sync.resources`` restricts the sync to the listed objects; ``dryRun`` writes
nothing; ``CreateNamespace=true`` creates the destination namespace first.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

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
            raise LookupError(f"the server could not find the requested resource {path}") from e
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
            raise LookupError(f'no matches for kind "{kind}" in version "{api_version}"')
        return found

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


class Syncer:
    def __init__(self, client: KubeClient, mapper: ResourceMapper) -> None:
        self._client = client
        self._mapper = mapper

    def ensure_namespace(self, name: str, dry_run: bool) -> None:
        if dry_run or self._client.get_or_none(f"/api/v1/namespaces/{name}") is not None:
            return
        try:
            self._client.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
        except ApiError as e:
            if e.status != 409:
                raise

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
            message = e.body.get("message", str(e)) if isinstance(e.body, dict) else str(e)
            return "SyncFailed", message
        except LookupError as e:
            return "SyncFailed", str(e)

    def sync(self, desired: list[Obj], operation_sync: Obj) -> SyncOutcome:
        """Apply ``desired`` (already namespaced and tracked) per ``operation.sync``."""
        dry_run = bool(operation_sync.get("dryRun"))
        wanted = list(operation_sync.get("resources") or [])
        objects = sorted(
            (o for o in desired if selected(o, wanted)),
            key=lambda o: _KIND_ORDER.index(o["kind"]) if o.get("kind") in _KIND_ORDER else 99,
        )
        results: list[Obj] = []
        failures: list[str] = []
        for obj in objects:
            status, message = self.apply(obj, dry_run)
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
