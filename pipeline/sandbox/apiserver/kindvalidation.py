"""Required-field validation of the built-in kinds added for GitOps repositories (422 Invalid).

Only the checks a manifest typically trips are made, with the upstream field paths and
messages: ``pkg/apis/core/validation`` (Service ports and type), ``pkg/apis/apps/validation``
(selector required and matching the template labels, containers required),
``pkg/apis/batch/validation`` (Job restartPolicy OnFailure|Never, CronJob schedule),
``pkg/apis/autoscaling/validation`` (scaleTargetRef, maxReplicas) and
``pkg/apis/networking/validation`` (Ingress pathType and backend). Values are checked after
defaulting, as upstream. Kinds served by a CRD are checked against its schema
(``schemavalidation.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.schemavalidation import schema_causes

Obj = dict[str, Any]
Cause = tuple[str, str]
_SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def go_string_map(value: Any) -> str:
    """``%#v`` of a ``map[string]string`` (keys sorted, as Go prints maps)."""
    items = sorted((value or {}).items()) if isinstance(value, dict) else []
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in items) + "}"


def _service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    causes: list[Cause] = []
    if kind not in _SERVICE_TYPES:
        supported = ", ".join(f'"{t}"' for t in _SERVICE_TYPES)
        causes.append(("spec.type", f'Unsupported value: "{kind}": supported values: {supported}'))
    if kind == "ExternalName":
        if not spec.get("externalName"):
            causes.append(("spec.externalName", "Required value"))
        return causes
    ports = spec.get("ports") or []
    if not ports and spec.get("clusterIP") != "None":
        causes.append(("spec.ports", "Required value"))
    for n, port in enumerate(ports):
        port = port if isinstance(port, dict) else {}
        if len(ports) > 1 and not port.get("name"):
            causes.append((f"spec.ports[{n}].name", "Required value"))
        number = port.get("port", 0)
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(
                (
                    f"spec.ports[{n}].port",
                    f"Invalid value: {number}: must be between 1 and 65535, inclusive",
                )
            )
    return causes


def _labels_match(selector: Any, labels: Any) -> bool:
    selector = selector if isinstance(selector, dict) else {}
    labels = labels if isinstance(labels, dict) else {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and (not present or labels[key] not in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def _template(prefix: str, template: Any) -> list[Cause]:
    spec = (template or {}).get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict) or not spec.get("containers"):
        return [(f"{prefix}.spec.containers", "Required value")]
    return []


def _workload(obj: Obj) -> list[Cause]:
    """StatefulSet, DaemonSet: selector required and matching the template labels."""
    return _selected_template(obj, lambda selector: selector)


def _replication_controller(obj: Obj) -> list[Cause]:
    """``ValidateReplicationControllerSpec``: the same, with a selector that is a plain map."""
    return _selected_template(obj, lambda selector: {"matchLabels": selector})


def _selected_template(obj: Obj, as_label_selector: Callable[[Any], Any]) -> list[Cause]:
    spec = obj.get("spec") or {}
    selector = spec.get("selector")
    causes: list[Cause] = []
    if not selector:
        causes.append(("spec.selector", "Required value"))
    else:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        if not _labels_match(as_label_selector(selector), labels):
            causes.append(
                (
                    "spec.template.metadata.labels",
                    f"Invalid value: {go_string_map(labels)}: `selector` does not match "
                    "template `labels`",
                )
            )
    return causes + _template("spec.template", spec.get("template"))


def _restart_policy(prefix: str, template: Any) -> list[Cause]:
    policy = (((template or {}).get("spec") or {}) if isinstance(template, dict) else {}).get(
        "restartPolicy"
    )
    if policy in ("OnFailure", "Never"):
        return []
    return [
        (
            f"{prefix}.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
        )
    ]


def _job(obj: Obj) -> list[Cause]:
    template = (obj.get("spec") or {}).get("template")
    return _template("spec.template", template) + _restart_policy("spec.template", template)


def _cronjob(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    if not spec.get("schedule"):
        causes.append(("spec.schedule", "Required value"))
    template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    prefix = "spec.jobTemplate.spec.template"
    return causes + _template(prefix, template) + _restart_policy(prefix, template)


def _hpa(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    causes = [
        (f"spec.scaleTargetRef.{key}", "Required value") for key in ("kind", "name")
        if not target.get(key)
    ]  # fmt: skip
    maximum, minimum = spec.get("maxReplicas", 0), spec.get("minReplicas", 1)
    if not isinstance(maximum, int) or maximum < 1:
        causes.append(("spec.maxReplicas", f"Invalid value: {maximum}: must be greater than 0"))
    elif isinstance(minimum, int) and minimum > maximum:
        causes.append(
            (
                "spec.maxReplicas",
                f"Invalid value: {maximum}: must be greater than or equal to `minReplicas`",
            )
        )
    return causes


def _ingress(obj: Obj) -> list[Cause]:
    causes: list[Cause] = []
    for r, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        for p, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            prefix = f"spec.rules[{r}].http.paths[{p}]"
            if not (path or {}).get("pathType"):
                causes.append((f"{prefix}.pathType", "Required value: pathType must be specified"))
            if not (path or {}).get("backend"):
                causes.append((f"{prefix}.backend", "Required value"))
    return causes


_VALIDATORS: dict[str, Callable[[Obj], list[Cause]]] = {
    "Service": _service,
    "StatefulSet": _workload,
    "DaemonSet": _workload,
    "ReplicationController": _replication_controller,
    "Job": _job,
    "CronJob": _cronjob,
    "HorizontalPodAutoscaler": _hpa,
    "Ingress": _ingress,
}


def validate_object(rt: ResourceType, obj: Obj) -> None:
    """422 Invalid listing every problem found, or nothing."""
    if rt.schema is not None:  # a kind served by a CRD
        causes = schema_causes(rt.schema, obj)
    else:
        validator = _VALIDATORS.get(rt.kind) if rt.builtin else None
        causes = validator(obj) if validator is not None else []
    if causes:
        raise st.invalid(rt, obj["metadata"].get("name", ""), causes)
