"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``) for a few kinds.

Imperative kubectl commands (``kubectl create namespace|secret|configmap``) send protobuf and
do not fall back to JSON. The envelope is the magic ``k8s\\0`` followed by a
``runtime.Unknown`` (``k8s.io/apimachinery/pkg/runtime/generated.proto``: typeMeta=1, raw=2,
contentEncoding=3, contentType=4); ``raw`` is the object in the field numbering of
``k8s.io/api/core/v1/generated.proto``. Only Namespace, Secret, ConfigMap, ServiceAccount and
Service (with the ObjectMeta fields people set), Deployment, Job and CronJob
(``workloadprotobuf.py``), plus the RBAC, TokenRequest and self-review kinds
(``authprotobuf.py``), are decoded; other kinds answer 415.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authprotobuf import AUTH_DECODERS
from pipeline.sandbox.apiserver.protowire import fields, int_or_string, object_meta, string_map
from pipeline.sandbox.apiserver.workloadprotobuf import WORKLOAD_DECODERS

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
Obj = dict[str, Any]


def _namespace(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            finalizers = [v.decode() for n, _, v in fields(raw) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def _secret(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            key, value = string_map(raw, as_bytes=True)
            obj.setdefault("data", {})[key] = value
        elif number == 3 and raw:
            obj["type"] = raw.decode()
        elif number == 4:
            key, value = string_map(raw)
            obj.setdefault("stringData", {})[key] = value
        elif number == 5:
            obj["immutable"] = bool(raw)
    return obj


def _configmap(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            key, value = string_map(raw)
            obj.setdefault("data", {})[key] = value
        elif number == 3:
            key, value = string_map(raw, as_bytes=True)
            obj.setdefault("binaryData", {})[key] = value
        elif number == 4:
            obj["immutable"] = bool(raw)
    return obj


def _service_account(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 3:
            name = next((v.decode() for n, _, v in fields(raw) if n == 1), "")
            obj.setdefault("imagePullSecrets", []).append({"name": name})
        elif number == 4:
            obj["automountServiceAccountToken"] = bool(raw)
    return obj


def _service_port(data: bytes) -> Obj:
    port: Obj = {}
    for number, _, raw in fields(data):
        if number in (1, 2, 6) and raw:
            port[{1: "name", 2: "protocol", 6: "appProtocol"}[number]] = raw.decode()
        elif number in (3, 5) and raw:
            port["port" if number == 3 else "nodePort"] = raw
        elif number == 4:
            target = int_or_string(raw)
            if target is not None:
                port["targetPort"] = target
    return port


_SERVICE_STRINGS = {
    3: "clusterIP", 4: "type", 7: "sessionAffinity", 8: "loadBalancerIP", 10: "externalName",
    11: "externalTrafficPolicy", 17: "ipFamilyPolicy", 21: "loadBalancerClass",
    22: "internalTrafficPolicy", 23: "trafficDistribution",
}  # fmt: skip
_SERVICE_LISTS = {5: "externalIPs", 9: "loadBalancerSourceRanges", 18: "clusterIPs",
                  19: "ipFamilies"}  # fmt: skip


def _service_spec(data: bytes) -> Obj:
    """``ServiceSpec`` (``kubectl create service``, ``kubectl expose``); Go sends zero values
    of non-pointer fields, which JSON would omit, so empty strings and zeros are dropped."""
    spec: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            spec.setdefault("ports", []).append(_service_port(raw))
        elif number == 2:
            key, value = string_map(raw)
            spec.setdefault("selector", {})[key] = value
        elif number in _SERVICE_STRINGS and raw:
            spec[_SERVICE_STRINGS[number]] = raw.decode()
        elif number in _SERVICE_LISTS:
            spec.setdefault(_SERVICE_LISTS[number], []).append(raw.decode())
        elif number == 12 and raw:
            spec["healthCheckNodePort"] = raw
        elif number == 13 and raw:
            spec["publishNotReadyAddresses"] = True
        elif number == 20:
            spec["allocateLoadBalancerNodePorts"] = bool(raw)
    return spec


def _service(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = object_meta(raw)
        elif number == 2:
            obj["spec"] = _service_spec(raw)
    return obj


DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Service": _service,
    "Namespace": _namespace,
    "ServiceAccount": _service_account,
    "Secret": _secret,
    "ConfigMap": _configmap,
    **WORKLOAD_DECODERS,
    **AUTH_DECODERS,
}


def decode_protobuf(body: bytes, kind: str) -> Obj:
    """Decode a protobuf-enveloped object of ``kind``; 415 for kinds not decoded here."""
    decoder = DECODERS.get(kind)
    if decoder is None:
        raise st.unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json, application/yaml (the sandbox decodes protobuf only for "
            + ", ".join(DECODERS)
            + ")"
        )
    if not body.startswith(MAGIC):
        raise st.bad_request("provided object is not a protobuf message: missing k8s magic")
    try:
        type_meta: Obj = {}
        raw = b""
        for number, _, value in fields(body[len(MAGIC) :]):
            if number == 1:
                names = {1: "apiVersion", 2: "kind"}
                type_meta = {names[n]: v.decode() for n, _, v in fields(value) if n in names}
            elif number == 2:
                raw = value
        obj = decoder(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise st.bad_request(f"unable to decode protobuf body: {e}") from e
    return {**type_meta, **obj, "metadata": obj.get("metadata", {})}
