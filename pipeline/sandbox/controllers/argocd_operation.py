"""Operation bookkeeping of the application-controller (pure functions).

Sources: ``controller/appcontroller.go`` (processRequestedAppOperation, setOperationState,
autoSync), ``controller/sync.go`` (history); see reference/argocd-kubernetes.md A.2, A.3. Retry
and selfHeal timing are in ``argocd_backoff``.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

Obj = dict[str, Any]

AUTO_SYNC_RETRY_LIMIT = 5


def rfc3339(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return (
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
    )


def new_state(operation: Obj, now: float) -> Obj:
    """The Running operationState written when an operation is picked up (A.3 step 2)."""
    return {
        "operation": copy.deepcopy(operation),
        "phase": "Running",
        "message": "",
        "startedAt": rfc3339(now),
    }


def completion_patch(state: Obj) -> list[Obj]:
    """The single JSON patch that records the final state and clears ``.operation`` (A.3 5)."""
    return [
        {"op": "add", "path": "/status/operationState", "value": state},
        {"op": "add", "path": "/operation", "value": None},
    ]


def auto_sync_operation(app: Obj, revision: str, resources: list[Obj] | None, heal: int) -> Obj:
    """The operation auto-sync writes (``autoSync()``): automated, retry limit 5 default."""
    spec = app.get("spec", {})
    policy = spec.get("syncPolicy") or {}
    automated = policy.get("automated") or {}
    sync: Obj = {
        "revision": revision,
        "prune": bool(automated.get("prune")),
        "source": copy.deepcopy(spec.get("source")),
        "syncOptions": list(policy.get("syncOptions") or []),
    }
    if resources:
        sync["resources"] = resources
    if heal:
        sync["autoHealAttemptsCount"] = heal
    return {
        "initiatedBy": {"automated": True},
        "sync": sync,
        "retry": copy.deepcopy(policy.get("retry") or {"limit": AUTO_SYNC_RETRY_LIMIT}),
    }


def history_patch(app: Obj, final: Obj) -> list[Obj]:
    """The ``status.history`` write of a Succeeded, full, non-dry-run sync (capped by
    ``spec.revisionHistoryLimit``, default 10); empty otherwise."""
    sync = (final.get("operation") or {}).get("sync") or {}
    if final["phase"] != "Succeeded" or sync.get("dryRun") or sync.get("resources"):
        return []
    result = final.get("syncResult") or {}
    history = list((app.get("status") or {}).get("history") or [])
    history.append(
        {
            "id": (history[-1]["id"] + 1) if history else 0,
            "revision": result.get("revision", ""),
            "source": result.get("source"),
            "deployStartedAt": final.get("startedAt"),
            "deployedAt": final["finishedAt"],
            "initiatedBy": (final.get("operation") or {}).get("initiatedBy") or {},
        }
    )
    limit = int((app.get("spec") or {}).get("revisionHistoryLimit") or 10)
    return [{"op": "add", "path": "/status/history", "value": history[-limit:]}]
