"""``meta.k8s.io/v1`` Table responses for ``kubectl get`` (``Accept: ...;as=Table;...``).

Columns follow ``pkg/printers/internalversion/printers.go`` (pods, deployments, replicasets,
namespaces, events, secrets, configmaps, serviceaccounts) and Argo CD's CRD
``additionalPrinterColumns`` (Application: Sync Status, Health Status, Revision and Project at
priority 10). Kinds without a printer get the default Name/Age table. Rows carry a
``PartialObjectMetadata`` unless ``includeObject=Object`` (or ``None``) is asked for.
"""

from __future__ import annotations

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


def _node_status(node: Obj) -> str:
    """printers.go ``printNode``: the Ready condition, plus ``SchedulingDisabled``."""
    ready = next(
        (c for c in _get("status.conditions")(node) or [] if c.get("type") == "Ready"), None
    )
    states = {"True": "Ready", "False": "NotReady"}
    status = states.get(ready.get("status"), "Unknown") if ready else "Unknown"
    return status + (",SchedulingDisabled" if _get("spec.unschedulable")(node) else "")


def _node_roles(node: Obj) -> str:
    """printers.go ``findNodeRoles``: ``node-role.kubernetes.io/<role>`` labels."""
    prefix = "node-role.kubernetes.io/"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k[len(prefix) :] for k in labels if k.startswith(prefix) and k != prefix)
    if "kubernetes.io/role" in labels:
        roles = sorted({*roles, labels["kubernetes.io/role"]})
    return ",".join(roles) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(node: Obj) -> str:
        for address in _get("status.addresses")(node) or []:
            if address.get("type") == kind:
                return str(address.get("address", ""))
        return "<none>"

    return cell


def _event_last_seen(event: Obj) -> str:
    return human_age(event.get("lastTimestamp") or event["metadata"].get("creationTimestamp"))


def _count(*fields: str) -> Cell:
    return lambda obj: sum(len(obj.get(f) or {}) for f in fields)


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
    "Node": [
        _NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        _AGE,
        ("Version", "string", 0, _get("status.nodeInfo.kubeletVersion")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, _get("status.nodeInfo.osImage")),
        ("Kernel-Version", "string", 1, _get("status.nodeInfo.kernelVersion")),
        ("Container-Runtime", "string", 1, _get("status.nodeInfo.containerRuntimeVersion")),
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
    columns = COLUMNS.get(rt.kind, [_NAME, _AGE])
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
