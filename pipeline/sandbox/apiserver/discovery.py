"""Legacy (unaggregated) discovery documents, derived from the resource table.

Shapes: ``k8s.io/apimachinery/pkg/apis/meta/v1/types.go`` (APIVersions, APIGroupList,
APIGroup, APIResourceList). kubectl 1.37 first asks for aggregated discovery
(``Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``) and falls
back to these documents when the answer is a plain ``APIGroupList``.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.sandbox.apiserver.resources import Catalog, ResourceType

Obj = dict[str, Any]

KUBERNETES_VERSION = {"major": "1", "minor": "37"}
_SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"]}


def version() -> Obj:
    return {
        **KUBERNETES_VERSION,
        "gitVersion": "v1.37.0-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(server_address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def kube_aware_order(version: str) -> tuple[int, int, int, str]:
    """Sort key of ``version.CompareKubeAwareVersionStrings`` (k8s.io/apimachinery): GA before
    beta before alpha, higher numbers first, other strings last alphabetically."""
    match = _KUBE_VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, level, minor = match.groups()
    stability = {None: 0, "beta": 1, "alpha": 2}[level]
    return (stability, -int(major), -int(minor or 0), "")


def _group(catalog: Catalog, name: str) -> Obj:
    """The group's versions, preferred (highest kube-aware) first, as for CRD groups."""
    served = sorted((v for g, v in catalog.group_versions() if g == name), key=kube_aware_order)
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in served]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_list(catalog: Catalog) -> Obj:
    names: list[str] = []
    for g, _ in catalog.group_versions():
        if g and g not in names:
            names.append(g)
    groups = [_group(catalog, n) for n in names]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def group(catalog: Catalog, name: str) -> Obj | None:
    if not any(g == name for g, _ in catalog.group_versions()):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(catalog, name)}


def _entries(rt: ResourceType) -> list[Obj]:
    main: Obj = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    entries = [main]
    for sub in rt.subresources:
        entry: Obj = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced}
        if sub == "scale":
            entry.update(group="autoscaling", version="v1", kind="Scale")
        elif sub == "token":
            entry.update(
                group="authentication.k8s.io", version="v1", kind="TokenRequest", verbs=["create"]
            )
        elif sub == "log":
            entry.update(kind="Pod", verbs=["get"])
        else:
            entry["kind"] = rt.kind
        entry.setdefault("verbs", _SUBRESOURCE_VERBS.get(sub, ["get"]))
        entries.append(entry)
    return entries


def resource_list(catalog: Catalog, group_name: str, version_name: str) -> Obj | None:
    rts = catalog.in_group_version(group_name, version_name)
    if not rts:
        return None
    gv = f"{group_name}/{version_name}" if group_name else version_name
    resources = [entry for rt in rts for entry in _entries(rt)]
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }
