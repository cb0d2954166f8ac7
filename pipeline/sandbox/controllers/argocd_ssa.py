"""The ``ServerSideApply=true`` sync option of the sandbox Argo CD.

As gitops-engine does (``gitops-engine/pkg/sync/sync_context.go`` ``shouldUseServerSideApply``,
``pkg/utils/kube/resource_ops.go``; ``controller/sync.go`` passes the manager
``argocd-controller``, ``common/common.go`` ``ArgoCDSSAManager``):

- the option comes from the operation's ``syncOptions`` (where the API server and auto-sync put
  the Application's ``syncPolicy.syncOptions``) or from the resource's
  ``argocd.argoproj.io/sync-options: ServerSideApply=true`` annotation; the annotation
  ``ServerSideApply=false`` turns it off for that resource; a dry run never uses it;
- the resource is applied as ``kubectl apply --server-side --force-conflicts
  --field-manager=argocd-controller`` would: one ``PATCH`` with
  ``application/apply-patch+yaml``, ``fieldManager=argocd-controller``, ``force=true``, which
  creates a missing object; the result message is kubectl's ``<kind>/<name>
  serverside-applied``.

Not emulated: gitops-engine's migration of ``kubectl-client-side-apply`` managed fields to the
applier (``needsClientSideApplyMigration``) and server-side diff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]
MANAGER = "argocd-controller"
OPTION = "ServerSideApply=true"
DISABLE = "ServerSideApply=false"
SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
APPLY_PATCH = "application/apply-patch+yaml"


def _annotation_options(obj: Obj) -> list[str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return [o.strip() for o in str(annotations.get(SYNC_OPTIONS_ANNOTATION, "")).split(",")]


def wanted(operation_sync: Obj, obj: Obj, dry_run: bool) -> bool:
    """``shouldUseServerSideApply`` for one resource of this operation."""
    if dry_run or DISABLE in _annotation_options(obj):
        return False
    return OPTION in (operation_sync.get("syncOptions") or []) or OPTION in _annotation_options(obj)


def apply(
    client: KubeClient, path_of: Callable[[Obj], str], obj: Obj, label: str
) -> tuple[str, str]:
    """Server-side apply ``obj``; (``Synced``|``SyncFailed``, kubectl-style message)."""
    try:
        client.request(
            "PATCH",
            path_of(obj),
            body=obj,
            params={"fieldManager": MANAGER, "force": "true"},
            content_type=APPLY_PATCH,
        )
    except ApiError as e:
        message = e.body.get("message", str(e)) if isinstance(e.body, dict) else str(e)
        return "SyncFailed", message
    except LookupError as e:
        return "SyncFailed", str(e)
    return "Synced", f"{label} serverside-applied"
