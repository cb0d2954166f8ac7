"""Rolling-update arithmetic of the deployment controller, as pure functions.

Mirrors kube-controller-manager ``pkg/controller/deployment/util/deployment_util.go``
(``ResolveFenceposts``, ``MaxUnavailable``, ``MaxSurge``, ``NewRSNewReplicas``) and
``rolling.go`` (``reconcileOldReplicaSets``, ``cleanupUnhealthyReplicas``,
``scaleDownOldReplicaSetsForRollingUpdate``). Percentages round like
``intstr.GetScaledValueFromIntOrPercent``: maxSurge up, maxUnavailable down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"


@dataclass(frozen=True)
class RSView:
    """What the rollout math needs of one ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int  # status.availableReplicas
    created: str = ""  # metadata.creationTimestamp, for oldest-first ordering


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """``intstr.GetScaledValueFromIntOrPercent``: an int, or ``"N%"`` of ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text.endswith("%"):
        return int(text)
    percent = int(text[:-1])
    exact = percent * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def strategy_type(deployment: Obj) -> str:
    return str(deployment["spec"].get("strategy", {}).get("type") or "RollingUpdate")


def desired_replicas(deployment: Obj) -> int:
    replicas = deployment["spec"].get("replicas")
    return 1 if replicas is None else int(replicas)


def resolve_fenceposts(max_surge: Any, max_unavailable: Any, desired: int) -> tuple[int, int]:
    """(surge, unavailable); never both zero (unavailable becomes 1)."""
    surge = scaled_value(max_surge, desired, round_up=True)
    unavailable = scaled_value(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(deployment: Obj) -> tuple[Any, Any]:
    rolling = deployment["spec"].get("strategy", {}).get("rollingUpdate") or {}
    return (
        rolling.get("maxSurge", DEFAULT_MAX_SURGE),
        rolling.get("maxUnavailable", DEFAULT_MAX_UNAVAILABLE),
    )


def max_surge(deployment: Obj) -> int:
    if strategy_type(deployment) != "RollingUpdate":
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(deployment), desired_replicas(deployment))
    return surge


def max_unavailable(deployment: Obj) -> int:
    desired = desired_replicas(deployment)
    if strategy_type(deployment) != "RollingUpdate" or desired == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(deployment), desired)
    return min(unavailable, desired)


def new_rs_replicas(deployment: Obj, all_rs: list[RSView], new_rs: RSView) -> int:
    """``NewRSNewReplicas``: how far the new ReplicaSet may be scaled up now."""
    desired = desired_replicas(deployment)
    if strategy_type(deployment) != "RollingUpdate":
        return desired
    current = sum(rs.replicas for rs in all_rs)
    max_total = desired + max_surge(deployment)
    if current >= max_total:
        return new_rs.replicas
    scale_up = min(max_total - current, desired - new_rs.replicas)
    return new_rs.replicas + max(scale_up, 0)


def old_rs_scale_down(deployment: Obj, old_rs: list[RSView], new_rs: RSView) -> dict[str, int]:
    """``reconcileOldReplicaSets``: new ``spec.replicas`` for the old ReplicaSets to shrink.

    First unhealthy old replicas go (within maxScaledDown), then available ones while more than
    ``desired - maxUnavailable`` pods stay available. Oldest ReplicaSets shrink first.
    """
    old_count = sum(rs.replicas for rs in old_rs)
    if old_count == 0:
        return {}
    desired = desired_replicas(deployment)
    min_available = desired - max_unavailable(deployment)
    all_count = old_count + new_rs.replicas
    new_unavailable = new_rs.replicas - new_rs.available
    max_scaled_down = all_count - min_available - new_unavailable
    if max_scaled_down <= 0:
        return {}
    plan: dict[str, int] = {}
    current = {rs.name: rs.replicas for rs in old_rs}
    ordered = sorted(old_rs, key=lambda rs: (rs.created, rs.name))
    cleaned = 0
    for rs in ordered:  # cleanupUnhealthyReplicas
        if cleaned >= max_scaled_down:
            break
        unhealthy = rs.replicas - rs.available
        if rs.replicas == 0 or unhealthy <= 0:
            continue
        down = min(max_scaled_down - cleaned, unhealthy)
        current[rs.name] -= down
        plan[rs.name] = current[rs.name]
        cleaned += down
    # scaleDownOldReplicaSetsForRollingUpdate
    available = new_rs.available + sum(min(rs.available, current[rs.name]) for rs in old_rs)
    if available <= min_available:
        return plan
    to_scale = available - min_available
    scaled = 0
    for rs in ordered:
        if scaled >= to_scale:
            break
        if current[rs.name] == 0:
            continue
        down = min(current[rs.name], to_scale - scaled)
        current[rs.name] -= down
        plan[rs.name] = current[rs.name]
        scaled += down
    return plan
