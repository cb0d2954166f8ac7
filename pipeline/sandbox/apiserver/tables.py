"""``meta.k8s.io/v1`` Table responses for ``kubectl get`` (``Accept: ...;as=Table;...``).

Columns follow ``pkg/printers/internalversion/printers.go`` (every built-in kind served) and
Argo CD's CRD ``additionalPrinterColumns`` (Application: Sync Status, Health Status, Revision
and Project at priority 10); kinds served by a CRD get its ``additionalPrinterColumns``.
Kinds without a printer get the default Name/Age table. Rows carry a
``PartialObjectMetadata`` unless ``includeObject=Object`` (or ``None``) is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.apiserver.messages import Request
from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]
Cell = Callable[[Obj], Any]
Column = tuple[str, str, int, Cell]  # name, type, priority, cell


def wants_table(req: Request) -> bool:
    return "as=Table" in req.accept


def human_age(timestamp: str | None) -> str:
    """``duration.HumanDuration`` of now - timestamp (``5s``, ``3m``, ``2h``, ``4d``)."""
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(int((datetime.now(UTC) - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _get(path: str) -> Cell:
    def cell(obj: Obj) -> Any:
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        return "" if current is None else current

    return cell


def _num(path: str) -> Cell:
    return lambda obj: _get(path)(obj) or 0


def _pod_status(pod: Obj) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting", {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif state.get("terminated", {}).get("reason"):
            reason = state["terminated"]["reason"]
    return str(reason)


def _pod_ready(pod: Obj) -> str:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    return f"{ready}/{len(pod.get('spec', {}).get('containers') or [])}"


def _restarts(pod: Obj) -> int:
    return sum(
        int(cs.get("restartCount", 0))
        for cs in pod.get("status", {}).get("containerStatuses") or []
    )


def _event_object(event: Obj) -> str:
    involved = event.get("involvedObject", {})
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _age(obj: Obj) -> str:
    return human_age(obj["metadata"].get("creationTimestamp"))


def _deploy_ready(obj: Obj) -> str:
    return f"{_num('status.readyReplicas')(obj)}/{_num('spec.replicas')(obj)}"


def _images(obj: Obj) -> str:
    containers = _get("spec.template.spec.containers")(obj) or []
    return ",".join(str(c.get("image", "")) for c in containers)


def _event_last_seen(event: Obj) -> str:
    return human_age(event.get("lastTimestamp") or event["metadata"].get("creationTimestamp"))


def _count(*fields: str) -> Cell:
    return lambda obj: sum(len(obj.get(f) or {}) for f in fields)


def _none(value: Any) -> str:
    return str(value) if value not in (None, "", [], {}) else "<none>"


def _service_external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    ips = [i.get("ip") or i.get("hostname") for i in ingress] + list(spec.get("externalIPs") or [])
    if ips:
        return ",".join(str(ip) for ip in ips if ip)
    return "<pending>" if kind == "LoadBalancer" else "<none>"


def _service_ports(svc: Obj) -> str:
    ports = []
    for port in (svc.get("spec") or {}).get("ports") or []:
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


def _selector_text(selector: Any) -> str:
    """``metav1.FormatLabelSelector`` (matchLabels then expressions) or a plain label map."""
    if not isinstance(selector, dict) or not selector:
        return "<none>"
    labels = selector.get("matchLabels") if "matchLabels" in selector else None
    if labels is None and "matchExpressions" not in selector:
        labels = selector
    parts = [f"{k}={v}" for k, v in sorted((labels or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator"), ",".join(expr.get("values") or [])
        if op == "Exists":
            parts.append(str(expr.get("key")))
        elif op == "DoesNotExist":
            parts.append(f"!{expr.get('key')}")
        else:
            parts.append(f"{expr.get('key')} {op.lower() if op else ''} ({values})")
    return ",".join(parts) or "<none>"


def _endpoints(ep: Obj) -> str:
    addresses = [
        f"{a.get('ip')}:{p.get('port')}" if subset.get("ports") else str(a.get("ip"))
        for subset in ep.get("subsets") or []
        for a in subset.get("addresses") or []
        for p in (subset.get("ports") or [{}])
    ]
    if len(addresses) > 3:
        return ",".join(addresses[:3]) + f" + {len(addresses) - 3} more..."
    return ",".join(addresses) or "<none>"


def _job_status(job: Obj) -> str:
    conditions = {
        c.get("type"): c.get("status") for c in (job.get("status") or {}).get("conditions") or []
    }
    for kind in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet", "Suspended"):
        if conditions.get(kind) == "True":
            return kind
    return "Running"


def _hpa_targets(hpa: Obj) -> str:
    """``formatHPAMetrics`` for the common Resource metrics (current value ``<unknown>``)."""
    current = {
        (m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
        for m in (hpa.get("status") or {}).get("currentMetrics") or []
        if m.get("type") == "Resource"
    }
    parts = []
    for metric in (hpa.get("spec") or {}).get("metrics") or []:
        if metric.get("type") != "Resource":
            parts.append("<unknown>/<unknown>")
            continue
        name = (metric.get("resource") or {}).get("name")
        target = (metric.get("resource") or {}).get("target") or {}
        now = current.get(name) or {}
        if target.get("type") == "Utilization":
            value = now.get("averageUtilization")
            shown = f"{value}%" if value is not None else "<unknown>"
            parts.append(f"{name}: {shown}/{target.get('averageUtilization')}%")
        else:
            wanted = target.get("averageValue") or target.get("value")
            parts.append(f"{name}: {now.get('averageValue') or '<unknown>'}/{wanted}")
    return ", ".join(parts) or "<none>"


def _ingress_hosts(ing: Obj) -> str:
    hosts = [r.get("host") or "*" for r in (ing.get("spec") or {}).get("rules") or []]
    return ",".join(hosts) or "*"


def _ingress_ports(ing: Obj) -> str:
    return "80, 443" if (ing.get("spec") or {}).get("tls") else "80"


def _pdb_value(field: str) -> Cell:
    return lambda pdb: (
        str(_get(f"spec.{field}")(pdb)) if _get(f"spec.{field}")(pdb) != "" else "N/A"
    )


def _join(path: str) -> Cell:
    return lambda obj: ",".join(str(v) for v in _get(path)(obj) or []) or "<none>"


def _created_at(obj: Obj) -> str:
    return str(obj["metadata"].get("creationTimestamp", ""))


_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([^=!]+)==[\"']([^\"']*)[\"']\)\]")


def json_path(path: str) -> Cell:
    """A CRD column's ``jsonPath``: ``.a.b``, ``.a[0]``, ``.a[?(@.type=="Ready")].status``."""
    steps = list(_STEP.finditer(path.strip()))

    def cell(obj: Obj) -> Any:
        current: Any = obj
        for step in steps:
            key, index, field, value = step.groups()
            if key is not None:
                current = current.get(key) if isinstance(current, dict) else None
            elif index is not None:
                items = current if isinstance(current, list) else []
                current = items[int(index)] if int(index) < len(items) else None
            else:
                items = current if isinstance(current, list) else []
                current = next(
                    (i for i in items if isinstance(i, dict) and str(i.get(field)) == value), None
                )
            if current is None:
                return None
        return current

    return cell


def custom_columns(rt: ResourceType) -> list[Column]:
    """Name, then the CRD's additionalPrinterColumns (Age when it declares none)."""
    if not rt.printer_columns:
        return [_NAME, ("Age", "date", 0, _created_at)]
    return [_NAME] + [
        (
            str(c.get("name", "")),
            str(c.get("type", "string")),
            int(c.get("priority", 0)),
            json_path(str(c.get("jsonPath", ""))),
        )
        for c in rt.printer_columns
    ]


_NAME: Column = ("Name", "string", 0, lambda o: o["metadata"]["name"])
_AGE: Column = ("Age", "string", 0, _age)

COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        _NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _restarts),
        _AGE,
        ("IP", "string", 1, _get("status.podIP")),
        ("Node", "string", 1, lambda o: _get("spec.nodeName")(o) or "<none>"),
    ],
    "Deployment": [
        _NAME,
        ("Ready", "string", 0, _deploy_ready),
        ("Up-to-date", "integer", 0, _num("status.updatedReplicas")),
        ("Available", "integer", 0, _num("status.availableReplicas")),
        _AGE,
        ("Images", "string", 1, _images),
    ],
    "ReplicaSet": [
        _NAME,
        ("Desired", "integer", 0, _num("spec.replicas")),
        ("Current", "integer", 0, _num("status.replicas")),
        ("Ready", "integer", 0, _num("status.readyReplicas")),
        _AGE,
    ],
    "Namespace": [_NAME, ("Status", "string", 0, _get("status.phase")), _AGE],
    "Event": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, _get("type")),
        ("Reason", "string", 0, _get("reason")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, _get("message")),
        ("Name", "string", 1, lambda o: o["metadata"]["name"]),
    ],
    "Secret": [
        _NAME,
        ("Type", "string", 0, _get("type")),
        ("Data", "integer", 0, _count("data")),
        _AGE,
    ],
    "ConfigMap": [_NAME, ("Data", "integer", 0, _count("data", "binaryData")), _AGE],
    "ServiceAccount": [_NAME, ("Secrets", "integer", 0, _count("secrets")), _AGE],
    "Service": [
        _NAME,
        ("Type", "string", 0, _get("spec.type")),
        ("Cluster-IP", "string", 0, lambda o: _none(_get("spec.clusterIP")(o))),
        ("External-IP", "string", 0, _service_external_ip),
        ("Port(s)", "string", 0, _service_ports),
        _AGE,
        ("Selector", "string", 1, lambda o: _selector_text(_get("spec.selector")(o))),
    ],
    "Endpoints": [_NAME, ("Endpoints", "string", 0, _endpoints), _AGE],
    "PersistentVolumeClaim": [
        _NAME,
        ("Status", "string", 0, _get("status.phase")),
        ("Volume", "string", 0, _get("spec.volumeName")),
        ("Capacity", "string", 0, _get("status.capacity.storage")),
        ("Access Modes", "string", 0, lambda o: ",".join(_get("status.accessModes")(o) or [])),
        ("StorageClass", "string", 0, lambda o: _none(_get("spec.storageClassName")(o))),
        (
            "VolumeAttributesClass",
            "string",
            0,
            lambda o: _none(_get("spec.volumeAttributesClassName")(o)),
        ),
        _AGE,
        ("VolumeMode", "string", 1, _get("spec.volumeMode")),
    ],
    "LimitRange": [_NAME, ("Created At", "date", 0, _created_at)],
    "ResourceQuota": [
        _NAME,
        _AGE,
        ("Request", "string", 0, lambda o: ""),
        ("Limit", "string", 0, lambda o: ""),
    ],
    "StatefulSet": [
        _NAME,
        (
            "Ready",
            "string",
            0,
            lambda o: f"{_num('status.readyReplicas')(o)}/{_num('spec.replicas')(o)}",
        ),
        _AGE,
        (
            "Containers",
            "string",
            1,
            lambda o: ",".join(
                str(c.get("name")) for c in _get("spec.template.spec.containers")(o) or []
            ),
        ),
        ("Images", "string", 1, _images),
    ],
    "DaemonSet": [
        _NAME,
        ("Desired", "integer", 0, _num("status.desiredNumberScheduled")),
        ("Current", "integer", 0, _num("status.currentNumberScheduled")),
        ("Ready", "integer", 0, _num("status.numberReady")),
        ("Up-to-date", "integer", 0, _num("status.updatedNumberScheduled")),
        ("Available", "integer", 0, _num("status.numberAvailable")),
        (
            "Node Selector",
            "string",
            0,
            lambda o: _selector_text(_get("spec.template.spec.nodeSelector")(o)),
        ),
        _AGE,
    ],
    "Job": [
        _NAME,
        ("Status", "string", 0, _job_status),
        (
            "Completions",
            "string",
            0,
            lambda o: f"{_num('status.succeeded')(o)}/{_get('spec.completions')(o) or 1}",
        ),
        ("Duration", "string", 0, lambda o: ""),
        _AGE,
    ],
    "CronJob": [
        _NAME,
        ("Schedule", "string", 0, _get("spec.schedule")),
        ("Timezone", "string", 0, lambda o: _none(_get("spec.timeZone")(o))),
        ("Suspend", "boolean", 0, lambda o: bool(_get("spec.suspend")(o))),
        ("Active", "integer", 0, lambda o: len(_get("status.active")(o) or [])),
        (
            "Last Schedule",
            "string",
            0,
            lambda o: (
                human_age(_get("status.lastScheduleTime")(o) or None)
                if _get("status.lastScheduleTime")(o)
                else "<none>"
            ),
        ),
        _AGE,
    ],
    "HorizontalPodAutoscaler": [
        _NAME,
        (
            "Reference",
            "string",
            0,
            lambda o: "{}/{}".format(
                _get("spec.scaleTargetRef.kind")(o), _get("spec.scaleTargetRef.name")(o)
            ),
        ),
        ("Targets", "string", 0, _hpa_targets),
        ("MinPods", "string", 0, lambda o: str(_get("spec.minReplicas")(o) or "<unset>")),
        ("MaxPods", "string", 0, _get("spec.maxReplicas")),
        ("Replicas", "string", 0, _num("status.currentReplicas")),
        _AGE,
    ],
    "PodDisruptionBudget": [
        _NAME,
        ("Min Available", "string", 0, _pdb_value("minAvailable")),
        ("Max Unavailable", "string", 0, _pdb_value("maxUnavailable")),
        ("Allowed Disruptions", "integer", 0, _num("status.disruptionsAllowed")),
        _AGE,
    ],
    "Ingress": [
        _NAME,
        ("Class", "string", 0, lambda o: _none(_get("spec.ingressClassName")(o))),
        ("Hosts", "string", 0, _ingress_hosts),
        (
            "Address",
            "string",
            0,
            lambda o: ",".join(
                str(i.get("ip") or i.get("hostname"))
                for i in _get("status.loadBalancer.ingress")(o) or []
            ),
        ),
        ("Ports", "string", 0, _ingress_ports),
        _AGE,
    ],
    "NetworkPolicy": [
        _NAME,
        ("Pod-Selector", "string", 0, lambda o: _selector_text(_get("spec.podSelector")(o))),
        _AGE,
    ],
    "CustomResourceDefinition": [_NAME, ("Created At", "date", 0, _created_at)],
    "Application": [
        _NAME,
        ("Sync Status", "string", 0, _get("status.sync.status")),
        ("Health Status", "string", 0, _get("status.health.status")),
        ("Revision", "string", 10, _get("status.sync.revision")),
        ("Project", "string", 10, _get("spec.project")),
    ],
}


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table_for(
    rt: ResourceType, listing: Obj, include: str = "Metadata", headers: bool = True
) -> Obj:
    """A Table of ``listing["items"]`` with the kind's columns."""
    custom = rt.schema is not None
    columns = custom_columns(rt) if custom else COLUMNS.get(rt.kind, [_NAME, _AGE])
    rows = []
    for obj in listing.get("items", []):
        row: Obj = {"cells": [cell(obj) for _, _, _, cell in columns]}
        partial = _row_object(obj, include)
        if partial is not None:
            row["object"] = partial
        rows.append(row)
    table: Obj = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": listing.get("metadata", {}),
    }
    if headers:
        table["columnDefinitions"] = [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
            for name, kind, priority, _ in columns
        ]
    table["rows"] = rows
    return table
