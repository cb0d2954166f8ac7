"""Operation bookkeeping of the application-controller (pure functions).

Sources: ``controller/appcontroller.go`` (processRequestedAppOperation, setOperationState),
``pkg/apis/application/v1alpha1/types.go`` (RetryStrategy.NextRetryAt) and
``application_defaults.go``; see reference/argocd-kubernetes.md A.2, A.3.
"""

from __future__ import annotations

import copy
import datetime
import re
from typing import Any

Obj = dict[str, Any]

DEFAULT_RETRY_DURATION = 5.0
DEFAULT_RETRY_FACTOR = 2.0
DEFAULT_RETRY_MAX = 180.0
AUTO_SYNC_RETRY_LIMIT = 5

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def rfc3339(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return (
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
    )


def parse_duration(value: Any, default: float) -> float:
    """A Go duration ("5s", "1m30s") or plain seconds ("5", 5), as ``parseStringToDuration``."""
    if value is None or value == "":
        return default
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return default
    return sum(float(n) * _UNITS[u] for n, u in parts)


def retry_wait(retry: Obj, retry_count: int) -> float:
    """Seconds to wait before retry number ``retry_count`` (1 = first retry):
    ``duration * factor^(n-1)`` capped at maxDuration (NextRetryAt's documented intent:
    the first retry waits exactly ``duration``)."""
    backoff = retry.get("backoff") or {}
    duration = parse_duration(backoff.get("duration"), DEFAULT_RETRY_DURATION)
    factor = float(backoff.get("factor") or DEFAULT_RETRY_FACTOR)
    maximum = parse_duration(backoff.get("maxDuration"), DEFAULT_RETRY_MAX)
    wait = duration * factor ** max(retry_count - 1, 0)
    return min(wait, maximum) if maximum > 0 else wait


def may_retry(state: Obj) -> bool:
    """Failed/Error, not terminated, and ``retryCount < retry.limit`` (limit < 0: unlimited)."""
    retry = (state.get("operation") or {}).get("retry")
    if not retry:
        return False
    limit = int(retry.get("limit", 0))
    return limit < 0 or int(state.get("retryCount", 0)) < limit


def new_state(operation: Obj, now: float) -> Obj:
    """The Running operationState written when an operation is picked up (A.3 step 2)."""
    return {
        "operation": copy.deepcopy(operation),
        "phase": "Running",
        "message": "",
        "startedAt": rfc3339(now),
    }


def retry_state(state: Obj, now: float) -> tuple[Obj, float]:
    """The state after a failed attempt that will be retried: Running with finishedAt set,
    ``retryCount`` + 1 and the message ". Retrying attempt #N at 3:04PM."; and the wait."""
    updated = copy.deepcopy(state)
    count = int(state.get("retryCount", 0)) + 1
    wait = retry_wait(state["operation"]["retry"], count)
    at = datetime.datetime.fromtimestamp(now + wait, tz=datetime.UTC)
    kitchen = at.strftime("%I:%M%p").lstrip("0")
    updated.update(
        phase="Running",
        finishedAt=rfc3339(now),
        retryCount=count,
        message=f"{state.get('message', '')}. Retrying attempt #{count} at {kitchen}.",
    )
    return updated, wait


def seconds_until_retry(state: Obj, now: float) -> float:
    finished = parse_rfc3339(state["finishedAt"])
    retry = (state.get("operation") or {}).get("retry") or {}
    return finished + retry_wait(retry, int(state.get("retryCount", 1))) - now


def completion_patch(state: Obj) -> list[Obj]:
    """The single JSON patch that records the final state and clears ``.operation`` (A.3 5)."""
    return [
        {"op": "add", "path": "/status/operationState", "value": state},
        {"op": "add", "path": "/operation", "value": None},
    ]


def self_heal_wait(attempts: int, base: float, factor: float, cap: float) -> float:
    """``--self-heal-backoff-timeout-seconds`` 2, factor 3, cap 300 (A.3 auto-sync)."""
    return float(min(base * factor**attempts, cap))


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
