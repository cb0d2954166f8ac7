"""Operation retry and selfHeal back-off of the application-controller (pure functions).

Sources (argo-cd): ``pkg/apis/application/v1alpha1/types.go`` RetryStrategy.NextRetryAt and
parseStringToDuration, ``application_defaults.go`` (5s, factor 2, 3m);
``controller/appcontroller.go`` processRequestedAppOperation (when the wait is computed and
with which retryCount) and selfHealRemainingBackoff; ``cmd/argocd-application-controller/
commands/argocd_application_controller.go`` (``--self-heal-timeout-seconds`` 0,
``--self-heal-backoff-timeout-seconds`` 2, ``--self-heal-backoff-factor`` 3,
``--self-heal-backoff-cap-seconds`` 300); k8s ``apimachinery/pkg/util/wait`` Backoff.Step.

Every function takes the time it needs as an argument, so the delays are computed, never slept.
"""

from __future__ import annotations

import copy
import datetime
import re
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

DEFAULT_RETRY_DURATION = 5.0
DEFAULT_RETRY_FACTOR = 2.0
DEFAULT_RETRY_MAX = 180.0

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    """A retry backoff duration Go cannot parse (the operation then ends in Error)."""


def go_duration(text: str) -> float:
    """``parseStringToDuration``: an integer is seconds, else Go's ``time.ParseDuration``."""
    if re.fullmatch(r"[+-]?\d+", text):
        return float(int(text))
    body = text[1:] if text[:1] in "+-" else text
    parts = _PART.findall(body) if body else []
    whole = "".join(n + u for n, u in parts) == body
    valid = body == "0" or (parts and whole and all(n not in ("", ".") for n, _ in parts))
    if not valid:
        raise DurationError(f"unable to parse {text} as a duration")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return -seconds if text.startswith("-") else seconds


def retry_wait(retry: Obj, retry_count: int) -> float:
    """``NextRetryAt(lastAttempt, retryCount) - lastAttempt``: ``duration * factor^retryCount``
    capped at maxDuration when it is > 0. Empty strings and a missing factor take the defaults;
    ``factor: 0`` is kept (Factor is a pointer)."""
    backoff = retry.get("backoff") or {}
    duration = DEFAULT_RETRY_DURATION
    maximum = DEFAULT_RETRY_MAX
    if backoff.get("duration") not in (None, ""):
        duration = go_duration(str(backoff["duration"]))
    if backoff.get("maxDuration") not in (None, ""):
        maximum = go_duration(str(backoff["maxDuration"]))
    factor = float(backoff["factor"]) if backoff.get("factor") is not None else DEFAULT_RETRY_FACTOR
    wait = duration * factor ** max(retry_count, 0)
    return min(wait, maximum) if maximum > 0 else wait


def may_retry(state: Obj) -> bool:
    """Failed/Error and ``retryCount < retry.limit`` (limit < 0: unlimited; none: no retry)."""
    retry = (state.get("operation") or {}).get("retry") or {}
    limit = int(retry.get("limit") or 0)
    return limit < 0 or int(state.get("retryCount") or 0) < limit


def _kitchen(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%I:%M%p").lstrip("0")


def failed_attempt(state: Obj, now: float, finished_at: str) -> Obj:
    """The state after a Failed/Error attempt, as processRequestedAppOperation leaves it:
    with retries left, Running + finishedAt, ``retryCount`` + 1 and ". Retrying attempt #N at
    3:04PM." (the time is computed with the retryCount *before* the increment); without,
    the phase stays and " (retried N times)." is added when it was retried."""
    updated = copy.deepcopy(state)
    count = int(state.get("retryCount") or 0)
    if may_retry(state):
        retry = (state.get("operation") or {}).get("retry") or {}
        try:
            at = now + retry_wait(retry, count)
        except DurationError as e:
            message = f"{state.get('message', '')} (failed to retry: {e})"
            updated.update(phase="Error", message=message)
            return updated
        updated.update(
            phase="Running",
            finishedAt=finished_at,
            retryCount=count + 1,
            message=f"{state.get('message', '')}. Retrying attempt #{count + 1} at {_kitchen(at)}.",
        )
        return updated
    if count > 0:
        updated["message"] = f"{state.get('message', '')} (retried {count} times)."
    return updated


def seconds_until_retry(state: Obj, finished_at: float, now: float) -> float:
    """Wait left before the retry of a Running + finishedAt state: NextRetryAt(finishedAt,
    retryCount) with the incremented count, so retry #1 waits ``duration * factor``."""
    retry = (state.get("operation") or {}).get("retry") or {}
    return finished_at + retry_wait(retry, int(state.get("retryCount") or 0)) - now


def retrying_state(state: Obj) -> Obj:
    """The state written when the wait is over: "Retrying operation. Attempt #N" (" with latest
    revisions" and the pinned revision dropped when ``retry.refresh``), no finishedAt, no
    syncResult."""
    dropped = ("finishedAt", "syncResult")
    updated = {k: v for k, v in copy.deepcopy(state).items() if k not in dropped}
    extra = ""
    if ((state.get("operation") or {}).get("retry") or {}).get("refresh"):
        extra = " with latest revisions"
        sync = updated.setdefault("operation", {}).setdefault("sync", {})
        sync["revision"] = ""
        sync.pop("revisions", None)
    updated["message"] = f"Retrying operation{extra}. Attempt #{int(state.get('retryCount') or 0)}"
    return updated


@dataclass(frozen=True)
class SelfHeal:
    """The controller's selfHeal flags; ``backoff_seconds`` 0 turns the exponential backoff off
    and ``timeout_seconds`` (the legacy fixed wait) applies instead."""

    timeout_seconds: float = 0.0
    backoff_seconds: float = 2.0
    backoff_factor: float = 3.0
    backoff_cap_seconds: float = 300.0


def self_heal_delay(attempts: int, settings: SelfHeal) -> float:
    """The delay before selfHeal attempt ``attempts + 1``: ``wait.Backoff{Duration, Factor, Cap,
    Steps: attempts}`` stepped ``attempts`` times (0 attempts: no delay; then 2, 6, 18, 54, 162,
    300, 300...); without backoff, the fixed ``timeout_seconds``."""
    if not settings.backoff_seconds:
        return settings.timeout_seconds
    duration, steps, delay = settings.backoff_seconds, attempts, 0.0
    for _ in range(attempts):
        if steps < 1:
            delay = duration
            continue
        steps -= 1
        delay = duration
        if settings.backoff_factor:
            duration *= settings.backoff_factor
            if settings.backoff_cap_seconds > 0 and duration > settings.backoff_cap_seconds:
                duration, steps = settings.backoff_cap_seconds, 0
    return delay


def self_heal_remaining(
    attempts: int, finished_at: float | None, now: float, settings: SelfHeal
) -> float:
    """``selfHealRemainingBackoff``: the delay minus the time since the last operation finished."""
    delay = self_heal_delay(attempts, settings)
    return delay if finished_at is None else delay - (now - finished_at)
