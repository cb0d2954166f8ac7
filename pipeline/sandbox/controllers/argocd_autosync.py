"""Auto-sync and selfHeal of the application-controller (``controller/appcontroller.go``
autoSync, alreadyAttemptedSync, selfHealRemainingBackoff; reference A.3).

Auto-sync runs when ``syncPolicy.automated`` is on, the app is OutOfSync, no operation is
pending or running, and the (revision, source) pair differs from the last sync's. For the
same pair it runs again only after a Succeeded sync and with ``selfHeal``, once the selfHeal
back-off (``argocd_backoff.self_heal_remaining``) counted from the last ``finishedAt`` is
over, listing only the OutOfSync resources. The operation is written like SetAppOperation:
a PUT with the resourceVersion read, ``status.operationState`` cleared.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers import argocd_backoff as backoff
from pipeline.sandbox.controllers import argocd_operation as ops
from pipeline.sandbox.controllers.argocd_sync import COMPLETED, SUCCEEDED
from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]


def auto_sync(
    client: KubeClient,
    path: str,
    app: Obj,
    comparison: Obj,
    now: float,
    self_heal: backoff.SelfHeal,
    requeue: Callable[[float], None],
) -> None:
    spec = app.get("spec") or {}
    automated = (spec.get("syncPolicy") or {}).get("automated")
    if automated is None or automated.get("enabled") is False:
        return
    if comparison["sync"] != "OutOfSync":
        return
    fresh = client.get_or_none(path)
    if fresh is None or fresh.get("operation"):
        return
    state = (fresh.get("status") or {}).get("operationState") or {}
    if state and state.get("phase") not in COMPLETED:
        return
    revision = comparison["revision"]
    last = state.get("syncResult") or {}
    heal = 0
    resources = None
    if last.get("revision") == revision and last.get("source") == spec.get("source"):
        if state.get("phase") != SUCCEEDED or not automated.get("selfHeal"):
            return  # synced (or failed) once for this (revision, source)
        attempts = int(
            ((state.get("operation") or {}).get("sync") or {}).get("autoHealAttemptsCount") or 0
        )
        finished = ops.parse_rfc3339(state["finishedAt"]) if state.get("finishedAt") else None
        remaining = backoff.self_heal_remaining(attempts, finished, now, self_heal)
        if remaining > 0:
            requeue(remaining)
            return
        heal = attempts + 1
        resources = comparison["out_of_sync"]
    fresh["operation"] = ops.auto_sync_operation(fresh, revision, resources, heal)
    fresh.setdefault("status", {})["operationState"] = None
    try:
        client.replace(path, copy.deepcopy(fresh))
    except ApiError as e:
        if e.status != 409:
            raise
        requeue(0.0)
