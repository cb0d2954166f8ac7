"""The application resource tree (``v1alpha1.ApplicationTree``) from live objects.

Real argocd-server reads the tree the application-controller caches (redis); the sandbox
builds it on request: the managed resources of ``status.resources``, the ReplicaSets a managed
Deployment owns and the Pods they own (``parentRefs``), each with ``uid``,
``resourceVersion``, ``createdAt``, ``health`` and, for Pods, ``images`` and ``info``
(``controller/cache/info.go`` populatePodInfo: "Status Reason", "Node", "Containers",
"Restart Count"). Node field names follow ``ResourceNode``/``ResourceRef`` in
``pkg/apis/application/v1alpha1/types.go``.
"""

from __future__ import annotations

from typing import Any

from pipeline.sandbox.controllers.argocd_health import resource_health
from pipeline.sandbox.controllers.argocd_sync import ResourceMapper
from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]


def _group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def _node(obj: Obj, parents: list[Obj], health: Obj | None = None) -> Obj:
    meta = obj.get("metadata", {})
    group, version = _group_version(str(obj.get("apiVersion", "")))
    node: Obj = {
        "group": group,
        "version": version,
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
        "createdAt": meta.get("creationTimestamp"),
    }
    if parents:
        node["parentRefs"] = parents
    found = resource_health(obj)
    if health is not None:
        node["health"] = health
    elif found is not None:
        node["health"] = {"status": found[0], **({"message": found[1]} if found[1] else {})}
    if obj.get("kind") == "Pod":
        node["images"] = [c.get("image", "") for c in obj.get("spec", {}).get("containers", [])]
        node["info"] = _pod_info(obj)
    elif obj.get("kind") == "ReplicaSet":
        revision = (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")
        if revision:
            node["info"] = [{"name": "Revision", "value": f"Rev:{revision}"}]
    return {k: v for k, v in node.items() if v not in (None, "") or k in ("group", "namespace")}


def _pod_info(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    reason = status.get("reason") or status.get("phase", "Pending")
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
    ready = sum(1 for cs in statuses if cs.get("ready"))
    total = len(pod.get("spec", {}).get("containers", []))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    info = [{"name": "Status Reason", "value": reason}]
    node = pod.get("spec", {}).get("nodeName")
    if node:
        info.append({"name": "Node", "value": node})
    info.append({"name": "Containers", "value": f"{ready}/{total}"})
    if restarts:
        info.append({"name": "Restart Count", "value": str(restarts)})
    return info


def _ref(node: Obj) -> Obj:
    return {k: node.get(k, "") for k in ("group", "kind", "namespace", "name", "uid")}


def _owned_by(obj: Obj, uid: str) -> bool:
    return any(r.get("uid") == uid for r in obj.get("metadata", {}).get("ownerReferences") or [])


def build_tree(kube: KubeClient, mapper: ResourceMapper, app: Obj) -> Obj:
    nodes: list[Obj] = []
    namespaces_listed: dict[str, tuple[list[Obj], list[Obj]]] = {}

    def children(namespace: str) -> tuple[list[Obj], list[Obj]]:
        if namespace not in namespaces_listed:
            rs = kube.list(f"/apis/apps/v1/namespaces/{namespace}/replicasets").get("items", [])
            pods = kube.list(f"/api/v1/namespaces/{namespace}/pods").get("items", [])
            namespaces_listed[namespace] = (rs, pods)
        return namespaces_listed[namespace]

    for res in (app.get("status") or {}).get("resources") or []:
        group, version = res.get("group", ""), res.get("version", "")
        api_version = f"{group}/{version}" if group else version
        ref = {
            "apiVersion": api_version,
            "kind": res.get("kind", ""),
            "metadata": {"namespace": res.get("namespace", ""), "name": res.get("name", "")},
        }
        try:
            live = kube.get_or_none(mapper.path(ref))
        except (LookupError, ApiError):
            live = None
        if live is None:
            continue  # missing resources are not in the tree
        live.setdefault("apiVersion", api_version)
        live.setdefault("kind", res.get("kind", ""))
        node = _node(live, [], res.get("health"))
        nodes.append(node)
        if live.get("kind") == "Deployment":
            replica_sets, pods = children(str(live["metadata"].get("namespace", "")))
            for rs in replica_sets:
                if not _owned_by(rs, node["uid"]):
                    continue
                rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", **rs}
                rs_node = _node(rs, [_ref(node)])
                nodes.append(rs_node)
                for pod in pods:
                    if _owned_by(pod, rs_node["uid"]):
                        pod = {"apiVersion": "v1", "kind": "Pod", **pod}
                        nodes.append(_node(pod, [_ref(rs_node)]))
    nodes.sort(key=lambda n: (n["group"], n["kind"], n["namespace"], n["name"]))
    return {"nodes": nodes}
