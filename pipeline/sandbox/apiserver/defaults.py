"""Defaulting the real apiserver applies on create and update, kept in one place.

Sources: ``pkg/apis/core/v1/defaults.go`` (Pod, Container, Secret, Namespace),
``pkg/apis/apps/v1/defaults.go`` (Deployment, ReplicaSet), the ServiceAccount admission plugin
(``serviceAccountName: default``), ``pkg/registry/core/pod/strategy.go`` PrepareForCreate
(``status.phase: Pending``, ``qosClass``) and the NamespaceLifecycle/namespace strategy
(``spec.finalizers: [kubernetes]``, ``status.phase: Active``, the
``kubernetes.io/metadata.name`` label). Defaults never overwrite what the client set.
"""

from __future__ import annotations

import base64
from typing import Any

Obj = dict[str, Any]


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or no tag, else ``IfNotPresent`` (digest refs included)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _container(container: Obj) -> None:
    container.setdefault("imagePullPolicy", image_pull_policy(str(container.get("image", ""))))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")


def pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                _container(container)


def _pod_template(owner_spec: Obj) -> None:
    template = owner_spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        pod_spec(template["spec"])


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _pod_template(spec)


def _replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    _pod_template(spec)
    # ReplicaSetStatus.replicas has no omitempty: Go always serialises it (clients require it)
    if isinstance(obj.get("status"), dict):
        obj["status"].setdefault("replicas", 0)


def _secret(obj: Obj) -> None:
    """``type: Opaque``; ``stringData`` is folded into ``data`` (base64) and dropped."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


def _namespace(obj: Obj) -> None:
    name = obj.get("metadata", {}).get("name", "")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


_DEFAULTERS = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Secret": _secret,
    "Namespace": _namespace,
}


def apply_defaults(kind: str, obj: Obj) -> None:
    """Fill the kind's defaults into ``obj`` in place (create and update)."""
    defaulter = _DEFAULTERS.get(kind)
    if defaulter is not None:
        defaulter(obj)


def initial_status(kind: str, obj: Obj) -> Obj | None:
    """The status a fresh object starts with when its kind resets status on create."""
    if kind == "Pod":
        return {"phase": "Pending", "qosClass": "BestEffort"}
    if kind == "Namespace":
        return {"phase": "Active"}
    if kind == "ReplicaSet":
        return {"replicas": 0}
    if kind == "Deployment":
        return {}
    return None
