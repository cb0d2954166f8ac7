"""kube-scheduler's filter plugins as pure functions: does a pod fit a node, and if not, why.

Each filter returns ``None`` (fits) or the plugin's reason string, worded as the real plugin
words it (``pkg/scheduler/framework/plugins``):

* ``NodeUnschedulable``: ``node(s) were unschedulable`` (``spec.unschedulable`` without a
  toleration of ``node.kubernetes.io/unschedulable:NoSchedule``).
* ``NodeAffinity``: ``node(s) didn't match Pod's node affinity/selector`` (``nodeSelector`` and
  ``requiredDuringSchedulingIgnoredDuringExecution``; terms are ORed, expressions ANDed;
  In/NotIn/Exists/DoesNotExist/Gt/Lt on labels, ``matchFields`` on ``metadata.name``).
* ``TaintToleration``: ``node(s) had untolerated taint {key: value}`` for the first NoSchedule or
  NoExecute taint no toleration tolerates (``v1helper.TolerationsTolerateTaint``).
* ``NodeResourcesFit``: ``Too many pods``, ``Insufficient cpu``, ``Insufficient memory`` (and
  any other requested resource), requests against ``allocatable`` minus bound pods' requests.

``fit_error`` builds the ``FitError`` message (``framework/types.go``): ``0/3 nodes are
available: 1 node(s) ..., 2 node(s) .... preemption: ...``, reasons counted and sorted; the
preemption part is DefaultPreemption's, which in the sandbox (every pod priority 0) never finds
victims.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import ROUND_CEILING, Decimal
from typing import Any

Obj = dict[str, Any]

UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)$")
# the plugins' reasons that preemption cannot help with (UnschedulableAndUnresolvable)
_UNRESOLVABLE = ("node(s) were unschedulable", "node(s) didn't match", "node(s) had untolerated")


def quantity(value: object) -> Decimal:
    """A ``resource.Quantity`` string (``500m``, ``128Mi``, ``1e3``, ``2``) as a number."""
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"quantities must match the regular expression: {text!r}")
    number, suffix = Decimal(match.group(1)), match.group(2)
    if suffix[:1] in ("e", "E"):
        return number * Decimal(10) ** int(suffix[1:])
    return number * _SUFFIXES[suffix]


def _scaled(resource: str, value: object) -> int:
    """cpu in millicores, everything else in whole units, rounded up (``MilliValue``/``Value``)."""
    try:
        amount = quantity(value) * (1000 if resource == "cpu" else 1)
    except (ValueError, ArithmeticError):  # the API server validates quantities; never crash
        return 0
    return int(amount.to_integral_value(rounding=ROUND_CEILING))


def pod_requests(pod: Obj) -> dict[str, int]:
    """``resourcehelper.PodRequests``: containers summed, then the max with each init container,
    plus ``overhead``."""
    spec = pod.get("spec") or {}
    total: Counter[str] = Counter()
    for container in spec.get("containers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] += _scaled(name, value)
    for container in spec.get("initContainers") or []:
        for name, value in ((container.get("resources") or {}).get("requests") or {}).items():
            total[name] = max(total[name], _scaled(name, value))
    for name, value in (spec.get("overhead") or {}).items():
        total[name] += _scaled(name, value)
    return dict(total)


def node_allocatable(node: Obj) -> dict[str, int]:
    status = node.get("status") or {}
    source = status.get("allocatable") or status.get("capacity") or {}
    return {name: _scaled(name, value) for name, value in source.items()}


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """``Toleration.ToleratesTaint``: effect empty matches all; key empty with Exists matches
    all keys; operator Equal (default) compares values, Exists ignores them."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return bool((toleration.get("value") or "") == (taint.get("value") or ""))
    return False


def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    """The first NoSchedule/NoExecute taint of ``node`` that ``pod`` does not tolerate."""
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    taint: Obj
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


def _expression_matches(expr: Obj, values: dict[str, str]) -> bool:
    key, operator = expr.get("key", ""), expr.get("operator", "")
    wanted = [str(v) for v in expr.get("values") or []]
    present = key in values
    if operator == "In":
        return present and values[key] in wanted
    if operator == "NotIn":
        return not present or values[key] not in wanted
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(wanted) == 1:
        try:
            have, limit = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > limit if operator == "Gt" else have < limit
    return False


def _term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: all its expressions and fields; an empty term matches nothing."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    node_fields = {"metadata.name": node["metadata"]["name"]}
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches(f, node_fields) for f in fields
    )


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    """``nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)``."""
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(_term_matches(term, node) for term in terms)


def resource_reasons(pod: Obj, node: Obj, bound: list[Obj]) -> list[str]:
    """``noderesources.fitsRequest``: pod count first, then each requested resource."""
    allocatable = node_allocatable(node)
    reasons = []
    if len(bound) + 1 > allocatable.get("pods", 110):
        reasons.append("Too many pods")
    used: Counter[str] = Counter()
    for other in bound:
        used.update(pod_requests(other))
    for name, amount in sorted(pod_requests(pod).items()):
        if amount == 0 or name == "pods":
            continue
        if amount > allocatable.get(name, 0) - used[name]:
            reasons.append(f"Insufficient {name}")
    return reasons


def filter_node(pod: Obj, node: Obj, bound: list[Obj]) -> list[str]:
    """Why ``pod`` cannot go to ``node`` ([] when it can), in the default plugin order."""
    if (node.get("spec") or {}).get("unschedulable"):
        cordon = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        if not any(tolerates(t, cordon) for t in (pod.get("spec") or {}).get("tolerations") or []):
            return ["node(s) were unschedulable"]
    if not matches_node_affinity(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        key, value = taint.get("key", ""), taint.get("value", "")
        return [f"node(s) had untolerated taint {{{key}: {value}}}"]
    return resource_reasons(pod, node, bound)


def fit_error(node_count: int, reasons_by_node: dict[str, list[str]]) -> str:
    """``FitError.Error()`` with DefaultPreemption's PostFilter message appended."""
    counts: Counter[str] = Counter()
    for reasons in reasons_by_node.values():
        counts.update(reasons)
    listed = ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))
    message = f"0/{node_count} nodes are available"
    message += f": {listed}." if listed else "."
    unresolvable = sum(
        1
        for reasons in reasons_by_node.values()
        if any(r.startswith(_UNRESOLVABLE) for r in reasons)
    )
    resolvable = len(reasons_by_node) - unresolvable
    parts = []
    if resolvable:
        parts.append(f"{resolvable} No preemption victims found for incoming pod")
    if unresolvable:
        parts.append(f"{unresolvable} Preemption is not helpful for scheduling")
    if parts:
        message += f" preemption: 0/{node_count} nodes are available: {', '.join(sorted(parts))}."
    return message
