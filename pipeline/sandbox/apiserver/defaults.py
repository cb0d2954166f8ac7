"""Defaulting the real apiserver applies on create and update, kept in one place.

Sources: ``pkg/apis/core/v1/defaults.go`` (Pod, Container, Secret, Namespace, Service),
``pkg/apis/apps/v1/defaults.go`` (Deployment, ReplicaSet, StatefulSet, DaemonSet),
``pkg/apis/batch/v1/defaults.go`` (Job, CronJob), ``pkg/apis/autoscaling/v2/defaults.go``
(HorizontalPodAutoscaler), ``pkg/apis/networking/v1/defaults.go`` (NetworkPolicy),
``pkg/registry/batch/job/strategy.go`` (the generated Job selector and labels), the
ServiceAccount admission plugin
(``serviceAccountName: default``), ``pkg/registry/core/pod/strategy.go`` PrepareForCreate
(``status.phase: Pending``, ``qosClass``) and the NamespaceLifecycle/namespace strategy
(``spec.finalizers: [kubernetes]``, ``status.phase: Active``, the
``kubernetes.io/metadata.name`` label). Defaults never overwrite what the client set.
"""

from __future__ import annotations

import base64
import copy
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


def _replication_controller(obj: Obj) -> None:
    """``pkg/apis/core/v1/defaults.go`` SetDefaults_ReplicationController: an empty selector
    and empty labels become the template's labels; replicas 1."""
    spec = obj.setdefault("spec", {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if template_labels:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        if not obj["metadata"].get("labels"):
            obj["metadata"]["labels"] = dict(template_labels)
    spec.setdefault("replicas", 1)
    _pod_template(spec)


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


def _service(obj: Obj) -> None:
    """``SetDefaults_Service``; ClusterIPs and node ports are allocated in ``services.py``."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)


def _statefulset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    _pod_template(spec)


def _daemonset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _pod_template(spec)


def _job_spec(spec: Obj) -> None:
    spec.setdefault("completions", 1)
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _pod_template(spec)


def _job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    _job_spec(spec)
    uid = obj["metadata"].get("uid")
    if uid and not spec.get("manualSelector") and "selector" not in spec:
        # job strategy generateSelector: the controller-uid label on selector and template
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = labels.setdefault("labels", {})
        name = obj["metadata"].get("name", "")
        for key, value in (
            ("batch.kubernetes.io/controller-uid", uid),
            ("batch.kubernetes.io/job-name", name),
            ("controller-uid", uid),
            ("job-name", name),
        ):
            labels.setdefault(key, value)


def _cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    template = spec.get("jobTemplate")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        job_spec = template["spec"]
        job_spec.setdefault("backoffLimit", 6)
        job_spec.setdefault("completionMode", "NonIndexed")
        job_spec.setdefault("suspend", False)
        job_spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        _pod_template(job_spec)


_SCALE_UP: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_SCALE_DOWN: Obj = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


def _hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):  # only a given behavior gets its nil rules filled
        for key, rules in (("scaleUp", _SCALE_UP), ("scaleDown", _SCALE_DOWN)):
            current = behavior.setdefault(key, {})
            for field, value in rules.items():
                current.setdefault(field, copy.deepcopy(value))


def _network_policy(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def _pvc(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")


_DEFAULTERS = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "ReplicationController": _replication_controller,
    "Secret": _secret,
    "Namespace": _namespace,
    "Service": _service,
    "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "Job": _job,
    "CronJob": _cronjob,
    "HorizontalPodAutoscaler": _hpa,
    "NetworkPolicy": _network_policy,
    "PersistentVolumeClaim": _pvc,
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
    return copy.deepcopy(_INITIAL_STATUS.get(kind)) if kind in _INITIAL_STATUS else None


# What a fresh object's status is with no controller acting on it: the fields whose Go type
# has no ``omitempty`` are always serialised (and the Python client requires them).
_INITIAL_STATUS: dict[str, Obj] = {
    "Deployment": {},
    "ReplicationController": {"replicas": 0},
    "StatefulSet": {"replicas": 0, "availableReplicas": 0},
    "DaemonSet": {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    },
    "Job": {},
    "CronJob": {},
    "HorizontalPodAutoscaler": {"desiredReplicas": 0},
    "PodDisruptionBudget": {
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "disruptionsAllowed": 0,
        "expectedPods": 0,
    },
    "Service": {"loadBalancer": {}},
    "Ingress": {"loadBalancer": {}},
    "PersistentVolumeClaim": {"phase": "Pending"},
    "ResourceQuota": {},
}
