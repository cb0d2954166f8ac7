"""``meta.k8s.io/v1`` Table responses for ``kubectl get`` (``Accept: ...;as=Table;...``).

Columns follow ``pkg/printers/internalversion/printers.go`` (every built-in kind served) and
Argo CD's CRD ``additionalPrinterColumns`` (Application: Sync Status, Health Status, Revision
and Project at priority 10); kinds served by a CRD get its ``additionalPrinterColumns``.
Kinds without a printer get the default Name/Age table. Rows carry a
``PartialObjectMetadata`` unless ``includeObject=Object`` (or ``None``) is asked for.
"""

from __future__ import annotations

from pipeline.sandbox.apiserver.kindcolumns import KIND_COLUMNS
from pipeline.sandbox.apiserver.messages import Request
from pipeline.sandbox.apiserver.printcells import (
    AGE,
    NAME,
    Cell,
    Column,
    Obj,
    custom_columns,
    get_path,
    human_age,
    images,
    num,
)
from pipeline.sandbox.apiserver.resources import ResourceType


def wants_table(req: Request) -> bool:
    return "as=Table" in req.accept


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


def _deploy_ready(obj: Obj) -> str:
    return f"{num('status.readyReplicas')(obj)}/{num('spec.replicas')(obj)}"


def _node_status(node: Obj) -> str:
    """printers.go ``printNode``: the Ready condition, plus ``SchedulingDisabled``."""
    ready = next(
        (c for c in get_path("status.conditions")(node) or [] if c.get("type") == "Ready"), None
    )
    states = {"True": "Ready", "False": "NotReady"}
    status = states.get(ready.get("status"), "Unknown") if ready else "Unknown"
    return status + (",SchedulingDisabled" if get_path("spec.unschedulable")(node) else "")


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
        for address in get_path("status.addresses")(node) or []:
            if address.get("type") == kind:
                return str(address.get("address", ""))
        return "<none>"

    return cell


def _event_last_seen(event: Obj) -> str:
    return human_age(event.get("lastTimestamp") or event["metadata"].get("creationTimestamp"))


def _count(*fields: str) -> Cell:
    return lambda obj: sum(len(obj.get(f) or {}) for f in fields)


COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        NAME,
        ("Ready", "string", 0, _pod_ready),
        ("Status", "string", 0, _pod_status),
        ("Restarts", "string", 0, _restarts),
        AGE,
        ("IP", "string", 1, get_path("status.podIP")),
        ("Node", "string", 1, lambda o: get_path("spec.nodeName")(o) or "<none>"),
    ],
    "Deployment": [
        NAME,
        ("Ready", "string", 0, _deploy_ready),
        ("Up-to-date", "integer", 0, num("status.updatedReplicas")),
        ("Available", "integer", 0, num("status.availableReplicas")),
        AGE,
        ("Images", "string", 1, images),
    ],
    "ReplicaSet": [
        NAME,
        ("Desired", "integer", 0, num("spec.replicas")),
        ("Current", "integer", 0, num("status.replicas")),
        ("Ready", "integer", 0, num("status.readyReplicas")),
        AGE,
    ],
    "Node": [
        NAME,
        ("Status", "string", 0, _node_status),
        ("Roles", "string", 0, _node_roles),
        AGE,
        ("Version", "string", 0, get_path("status.nodeInfo.kubeletVersion")),
        ("Internal-IP", "string", 1, _node_address("InternalIP")),
        ("External-IP", "string", 1, _node_address("ExternalIP")),
        ("OS-Image", "string", 1, get_path("status.nodeInfo.osImage")),
        ("Kernel-Version", "string", 1, get_path("status.nodeInfo.kernelVersion")),
        ("Container-Runtime", "string", 1, get_path("status.nodeInfo.containerRuntimeVersion")),
    ],
    "Namespace": [NAME, ("Status", "string", 0, get_path("status.phase")), AGE],
    "Event": [
        ("Last Seen", "string", 0, _event_last_seen),
        ("Type", "string", 0, get_path("type")),
        ("Reason", "string", 0, get_path("reason")),
        ("Object", "string", 0, _event_object),
        ("Message", "string", 0, get_path("message")),
        ("Name", "string", 1, lambda o: o["metadata"]["name"]),
    ],
    "Secret": [
        NAME,
        ("Type", "string", 0, get_path("type")),
        ("Data", "integer", 0, _count("data")),
        AGE,
    ],
    "ConfigMap": [NAME, ("Data", "integer", 0, _count("data", "binaryData")), AGE],
    "ServiceAccount": [NAME, ("Secrets", "integer", 0, _count("secrets")), AGE],
    **KIND_COLUMNS,
    "Application": [
        NAME,
        ("Sync Status", "string", 0, get_path("status.sync.status")),
        ("Health Status", "string", 0, get_path("status.health.status")),
        ("Revision", "string", 10, get_path("status.sync.revision")),
        ("Project", "string", 10, get_path("spec.project")),
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
    columns = custom_columns(rt) if custom else COLUMNS.get(rt.kind, [NAME, AGE])
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
