"""Service ClusterIP and NodePort allocation, as the Service REST storage does it.

Sources: ``pkg/registry/core/service/storage/alloc.go`` (allocate on create; on update
``patchAllocatedValues`` keeps the allocated ClusterIPs and node ports a client omitted),
``pkg/registry/core/service/ipallocator`` (random free address of the service CIDR, the first
address reserved for the ``kubernetes`` Service) and ``portallocator`` (30000-32767). The
service CIDR is kube-apiserver's ``--service-cluster-ip-range``; 10.96.0.0/12 is kubeadm's
default. Single-stack IPv4 only.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.store import Store

Obj = dict[str, Any]
SERVICE_CIDR = ipaddress.IPv4Network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = str(SERVICE_CIDR.network_address + 1)
NODE_PORTS = range(30000, 32768)


def kubernetes_service() -> Obj:
    """The ``default/kubernetes`` Service every cluster has (the apiserver's own)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "clusterIP": KUBERNETES_SERVICE_IP,
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
        },
    }


class ServiceAllocator:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _services(self, rt: ResourceType) -> list[Obj]:
        return self.store.objects_of(rt)

    def _used_ips(self, rt: ResourceType) -> set[str]:
        return {ip for svc in self._services(rt) for ip in svc["spec"].get("clusterIPs") or []}

    def _used_ports(self, rt: ResourceType) -> set[int]:
        return {
            int(port["nodePort"])
            for svc in self._services(rt)
            for port in svc["spec"].get("ports") or []
            if port.get("nodePort")
        }

    def on_create(self, rt: ResourceType, obj: Obj) -> None:
        """Admission for a new Service (caller holds the store lock)."""
        if rt.kind != "Service":
            return
        spec = obj["spec"]
        name = obj["metadata"]["name"]
        if spec["type"] == "ExternalName":
            return
        wanted = spec.get("clusterIP") or next(iter(spec.get("clusterIPs") or []), "")
        if wanted == "None":
            spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        else:
            ip = self._claim_ip(rt, name, wanted)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            used = self._used_ports(rt)
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    free = [p for p in NODE_PORTS if p not in used]
                    port["nodePort"] = random.choice(free)
                used.add(int(port["nodePort"]))

    def _claim_ip(self, rt: ResourceType, name: str, wanted: str) -> str:
        used = self._used_ips(rt)
        if not wanted:
            while True:
                offset = random.randrange(2, SERVICE_CIDR.num_addresses - 1)
                candidate = str(SERVICE_CIDR.network_address + offset)
                if candidate not in used:
                    return candidate
        field = "spec.clusterIPs"
        value = f'[]string{{"{wanted}"}}'
        try:
            address = ipaddress.IPv4Address(wanted)
        except ValueError:
            raise st.invalid(
                rt, name, [(field, f"Invalid value: {value}: must be a valid IP address")]
            ) from None
        if address not in SERVICE_CIDR or address == SERVICE_CIDR.network_address:
            why = (
                f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the "
                f"valid range. The range of valid IPs is {SERVICE_CIDR}"
            )
            raise st.invalid(rt, name, [(field, f"Invalid value: {value}: {why}")])
        if wanted in used:
            why = f"failed to allocate IP {wanted}: provided IP is already allocated"
            raise st.invalid(rt, name, [(field, f"Invalid value: {value}: {why}")])
        return wanted

    @staticmethod
    def on_update(rt: ResourceType, old: Obj, new: Obj) -> None:
        """``patchAllocatedValues``: what the client left out stays allocated; a changed
        ClusterIP is 422 "may not change once set"."""
        if rt.kind != "Service":
            return
        before, after = old.get("spec") or {}, new.setdefault("spec", {})
        if before.get("type") == "ExternalName" or after.get("type") == "ExternalName":
            return
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if not after.get(key) and before.get(key):
                after[key] = before[key]
        if after.get("clusterIP") != before.get("clusterIP"):
            value = f'[]string{{"{after.get("clusterIP")}"}}'
            raise st.invalid(
                rt,
                new["metadata"]["name"],
                [("spec.clusterIPs[0]", f"Invalid value: {value}: may not change once set")],
            )
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in before.get("ports") or []
        }
        for port in after.get("ports") or []:
            if isinstance(port, dict) and not port.get("nodePort"):
                kept = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if kept and after.get("type") in ("NodePort", "LoadBalancer"):
                    port["nodePort"] = kept
