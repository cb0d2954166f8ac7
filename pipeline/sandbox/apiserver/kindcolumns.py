"""Printer columns of the kinds GitOps repositories carry besides Deployments
(``pkg/printers/internalversion/printers.go``: printService, printEndpoints,
printPersistentVolumeClaim, printStatefulSet, printDaemonSet, printJob, printCronJob,
printHorizontalPodAutoscaler, printPodDisruptionBudget, printIngress, printNetworkPolicy; the
CRD's own NAME/CREATED AT).
"""

from __future__ import annotations

from pipeline.sandbox.apiserver.printcells import (
    AGE,
    NAME,
    Cell,
    Column,
    Obj,
    created_at,
    get_path,
    human_age,
    images,
    none_text,
    num,
    selector_text,
)


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
        str(get_path(f"spec.{field}")(pdb)) if get_path(f"spec.{field}")(pdb) != "" else "N/A"
    )


def _container_names(obj: Obj) -> str:
    return ",".join(
        str(c.get("name")) for c in get_path("spec.template.spec.containers")(obj) or []
    )


def _subjects(kind: str) -> Cell:
    def cell(binding: Obj) -> str:
        names = [
            f"{s.get('namespace', '')}/{s.get('name', '')}"
            if kind == "ServiceAccount"
            else s.get("name", "")
            for s in binding.get("subjects") or []
            if s.get("kind") == kind
        ]
        return ", ".join(names)

    return cell


_BINDING: list[Column] = [
    NAME,
    (
        "Role",
        "string",
        0,
        lambda o: f"{get_path('roleRef.kind')(o)}/{get_path('roleRef.name')(o)}",
    ),
    AGE,
    ("Users", "string", 1, _subjects("User")),
    ("Groups", "string", 1, _subjects("Group")),
    ("ServiceAccounts", "string", 1, _subjects("ServiceAccount")),
]


KIND_COLUMNS: dict[str, list[Column]] = {
    "Service": [
        NAME,
        ("Type", "string", 0, get_path("spec.type")),
        ("Cluster-IP", "string", 0, lambda o: none_text(get_path("spec.clusterIP")(o))),
        ("External-IP", "string", 0, _service_external_ip),
        ("Port(s)", "string", 0, _service_ports),
        AGE,
        ("Selector", "string", 1, lambda o: selector_text(get_path("spec.selector")(o))),
    ],
    "Endpoints": [NAME, ("Endpoints", "string", 0, _endpoints), AGE],
    "PersistentVolumeClaim": [
        NAME,
        ("Status", "string", 0, get_path("status.phase")),
        ("Volume", "string", 0, get_path("spec.volumeName")),
        ("Capacity", "string", 0, get_path("status.capacity.storage")),
        ("Access Modes", "string", 0, lambda o: ",".join(get_path("status.accessModes")(o) or [])),
        ("StorageClass", "string", 0, lambda o: none_text(get_path("spec.storageClassName")(o))),
        (
            "VolumeAttributesClass",
            "string",
            0,
            lambda o: none_text(get_path("spec.volumeAttributesClassName")(o)),
        ),
        AGE,
        ("VolumeMode", "string", 1, get_path("spec.volumeMode")),
    ],
    "LimitRange": [NAME, ("Created At", "date", 0, created_at)],
    "ResourceQuota": [
        NAME,
        AGE,
        ("Request", "string", 0, lambda o: ""),
        ("Limit", "string", 0, lambda o: ""),
    ],
    "StatefulSet": [
        NAME,
        (
            "Ready",
            "string",
            0,
            lambda o: f"{num('status.readyReplicas')(o)}/{num('spec.replicas')(o)}",
        ),
        AGE,
        ("Containers", "string", 1, _container_names),
        ("Images", "string", 1, images),
    ],
    # printRole/printClusterRole, printRoleBinding/printClusterRoleBinding
    "Role": [NAME, ("Created At", "date", 0, created_at)],
    "ClusterRole": [NAME, ("Created At", "date", 0, created_at)],
    "RoleBinding": _BINDING,
    "ClusterRoleBinding": _BINDING,
    "ReplicationController": [  # printReplicationController
        NAME,
        ("Desired", "integer", 0, num("spec.replicas")),
        ("Current", "integer", 0, num("status.replicas")),
        ("Ready", "integer", 0, num("status.readyReplicas")),
        AGE,
        ("Containers", "string", 1, _container_names),
        ("Images", "string", 1, images),
        ("Selector", "string", 1, lambda o: selector_text(get_path("spec.selector")(o))),
    ],
    "DaemonSet": [
        NAME,
        ("Desired", "integer", 0, num("status.desiredNumberScheduled")),
        ("Current", "integer", 0, num("status.currentNumberScheduled")),
        ("Ready", "integer", 0, num("status.numberReady")),
        ("Up-to-date", "integer", 0, num("status.updatedNumberScheduled")),
        ("Available", "integer", 0, num("status.numberAvailable")),
        (
            "Node Selector",
            "string",
            0,
            lambda o: selector_text(get_path("spec.template.spec.nodeSelector")(o)),
        ),
        AGE,
    ],
    "Job": [
        NAME,
        ("Status", "string", 0, _job_status),
        (
            "Completions",
            "string",
            0,
            lambda o: f"{num('status.succeeded')(o)}/{get_path('spec.completions')(o) or 1}",
        ),
        ("Duration", "string", 0, lambda o: ""),
        AGE,
    ],
    "CronJob": [
        NAME,
        ("Schedule", "string", 0, get_path("spec.schedule")),
        ("Timezone", "string", 0, lambda o: none_text(get_path("spec.timeZone")(o))),
        ("Suspend", "boolean", 0, lambda o: bool(get_path("spec.suspend")(o))),
        ("Active", "integer", 0, lambda o: len(get_path("status.active")(o) or [])),
        (
            "Last Schedule",
            "string",
            0,
            lambda o: (
                human_age(get_path("status.lastScheduleTime")(o) or None)
                if get_path("status.lastScheduleTime")(o)
                else "<none>"
            ),
        ),
        AGE,
    ],
    "HorizontalPodAutoscaler": [
        NAME,
        (
            "Reference",
            "string",
            0,
            lambda o: "{}/{}".format(
                get_path("spec.scaleTargetRef.kind")(o), get_path("spec.scaleTargetRef.name")(o)
            ),
        ),
        ("Targets", "string", 0, _hpa_targets),
        ("MinPods", "string", 0, lambda o: str(get_path("spec.minReplicas")(o) or "<unset>")),
        ("MaxPods", "string", 0, get_path("spec.maxReplicas")),
        ("Replicas", "string", 0, num("status.currentReplicas")),
        AGE,
    ],
    "PodDisruptionBudget": [
        NAME,
        ("Min Available", "string", 0, _pdb_value("minAvailable")),
        ("Max Unavailable", "string", 0, _pdb_value("maxUnavailable")),
        ("Allowed Disruptions", "integer", 0, num("status.disruptionsAllowed")),
        AGE,
    ],
    "Ingress": [
        NAME,
        ("Class", "string", 0, lambda o: none_text(get_path("spec.ingressClassName")(o))),
        ("Hosts", "string", 0, _ingress_hosts),
        (
            "Address",
            "string",
            0,
            lambda o: ",".join(
                str(i.get("ip") or i.get("hostname"))
                for i in get_path("status.loadBalancer.ingress")(o) or []
            ),
        ),
        ("Ports", "string", 0, _ingress_ports),
        AGE,
    ],
    "NetworkPolicy": [
        NAME,
        ("Pod-Selector", "string", 0, lambda o: selector_text(get_path("spec.podSelector")(o))),
        AGE,
    ],
    "CustomResourceDefinition": [NAME, ("Created At", "date", 0, created_at)],
}
