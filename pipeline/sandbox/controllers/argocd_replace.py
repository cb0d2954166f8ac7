"""``Replace=true``: ``kubectl replace`` / ``kubectl create`` instead of ``kubectl apply``.

Source: ``gitops-engine/pkg/sync/sync_context.go`` applyObject: the option comes from the
operation's syncOptions or the ``argocd.argoproj.io/sync-options`` annotation of the rendered
or live object. A live object is replaced whole (``kubectl replace`` PUTs the rendered object
with the live resourceVersion: fields git does not set are dropped, no last-applied
annotation), "<kind>.<group>/<name> replaced"; a missing one is created, "... created". A
CustomResourceDefinition or Namespace is updated instead ("<Kind>/<name> updated"), because
replacing it could delete what it holds.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]

SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
REPLACE = "Replace=true"


def _annotated(obj: Obj | None) -> bool:
    text = ((obj or {}).get("metadata") or {}).get("annotations", {}).get(SYNC_OPTIONS, "")
    return REPLACE in [part.strip() for part in str(text).split(",")]


def wants_replace(options: list[str], desired: Obj, live: Obj | None) -> bool:
    return REPLACE in options or _annotated(desired) or _annotated(live)


def replace_object(
    client: KubeClient, item_path: str, list_path: str, desired: Obj, label: str, dry_run: bool
) -> tuple[str, str]:
    """(``Synced``, message) after replacing or creating ``desired``; ApiError propagates."""
    suffix = " (dry run)" if dry_run else ""
    for _ in range(3):
        live = client.get_or_none(item_path)
        if live is None:
            if not dry_run:
                client.create(list_path, copy.deepcopy(desired))
            return "Synced", f"{label} created{suffix}"
        kind, name = desired.get("kind", ""), desired["metadata"]["name"]
        updated = copy.deepcopy(desired)
        updated["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
        if not dry_run:
            try:
                client.replace(item_path, updated)
            except ApiError as e:
                if e.status == 409:
                    continue
                raise
        if kind in ("CustomResourceDefinition", "Namespace"):
            return "Synced", f"{kind}/{name} updated{suffix}"
        return "Synced", f"{label} replaced{suffix}"
    return "SyncFailed", f"{label}: conflict replacing, retries exhausted"
