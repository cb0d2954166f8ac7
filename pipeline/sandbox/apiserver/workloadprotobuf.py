"""Protobuf bodies of apps/v1 Deployment and batch/v1 Job and CronJob.

``kubectl create deployment|job|cronjob`` send ``application/vnd.kubernetes.protobuf`` and do
not fall back to JSON, as every client-go typed client (a real kube-apiserver decodes protobuf
for every built-in kind). The field numbers and types are those of
``k8s.io/api`` ``{core,apps,batch}/v1/generated.proto`` (the closure of these three kinds,
status messages left out), kept in ``protoschema.json`` as ``{message: {number: [json name,
type, repeated?]}}``, an empty name marking an embedded struct whose fields are inlined
(``Probe``'s ``ProbeHandler``, ``Volume``'s ``VolumeSource``, ``LocalObjectReference``);
apimachinery's ObjectMeta, LabelSelector, IntOrString and Quantity are
decoded here. Field numbers never change in ``k8s.io/api``, so one table serves every kubectl.

Go marshals non-pointer scalars even when zero, where JSON (``omitempty``) leaves them out: zero
strings, numbers and false are dropped, except in pointer fields where zero means something
(``replicas: 0``, ``backoffLimit: 0``, ...).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.sandbox.apiserver.protowire import fields, int_or_string, object_meta, string_map

Obj = dict[str, Any]
Schema = dict[str, dict[str, list[Any]]]

KEEP_ZERO = frozenset(
    {
        "replicas",
        "parallelism",
        "completions",
        "backoffLimit",
        "backoffLimitPerIndex",
        "ttlSecondsAfterFinished",
        "terminationGracePeriodSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "startingDeadlineSeconds",
        "suspend",
        "runAsUser",
        "runAsGroup",
        "fsGroup",
    }
)
_SCALARS = ("string", "int32", "int64", "bool", "bytes", "double", "float")


@cache
def schema() -> Schema:
    loaded: Schema = json.loads((Path(__file__).parent / "protoschema.json").read_text())
    return loaded


def _label_selector(data: bytes) -> Obj:
    selector: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            key, value = string_map(raw)
            selector.setdefault("matchLabels", {})[key] = value
        elif number == 2:
            requirement: Obj = {}
            for n, _, v in fields(raw):
                if n in (1, 2):
                    requirement["key" if n == 1 else "operator"] = v.decode()
                elif n == 3:
                    requirement.setdefault("values", []).append(v.decode())
            selector.setdefault("matchExpressions", []).append(requirement)
    return selector


def _quantity(data: bytes) -> str:
    return next((v.decode() for n, _, v in fields(data) if n == 1), "")


def _time(data: bytes) -> str | None:
    seconds = next((v for n, _, v in fields(data) if n == 1), None)
    if seconds is None:
        return None
    return datetime.fromtimestamp(_signed(seconds, 64), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_EXTERNAL: dict[str, Callable[[bytes], Any]] = {
    "apis.meta.v1.Time": _time,
    "apis.meta.v1.ObjectMeta": object_meta,
    "apis.meta.v1.LabelSelector": _label_selector,
    "util.intstr.IntOrString": int_or_string,
    "api.resource.Quantity": _quantity,
}


def _signed(value: int, bits: int) -> int:
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    return value if bits == 64 else max(min(value, 2**31 - 1), -(2**31))


def _scalar(kind: str, wire: int, raw: Any) -> Any:
    if kind == "string":
        return raw.decode()
    if kind == "bytes":
        return base64.b64encode(raw).decode()
    if kind == "bool":
        return bool(raw)
    if kind in ("int32", "int64"):
        return _signed(raw, 32 if kind == "int32" else 64)
    if kind == "double":
        return struct.unpack("<d", raw)[0]
    return struct.unpack("<f", raw)[0]


def _value(kind: str, wire: int, raw: Any) -> Any:
    if kind in _SCALARS:
        return _scalar(kind, wire, raw)
    if kind in _EXTERNAL:
        return _EXTERNAL[kind](raw)
    return decode_message(kind, raw)


def _is_zero(value: Any) -> bool:
    return value in ("", 0, False) and not isinstance(value, float | dict | list)


def decode_message(name: str, data: bytes) -> Obj:
    """One message of ``protoschema.json`` as the JSON object the same Go struct gives."""
    spec = schema().get(name, {})
    out: Obj = {}
    for number, wire, raw in fields(data):
        field = spec.get(str(number))
        if field is None:
            continue
        json_name, kind = field[0], field[1]
        if kind.startswith("map:"):
            key, value = "", None
            for n, w, v in fields(raw):
                if n == 1:
                    key = v.decode()
                elif n == 2:
                    value = _value(kind[4:], w, v)
            out.setdefault(json_name, {})[key] = value if value is not None else ""
        elif len(field) > 2:
            out.setdefault(json_name, []).append(_value(kind, wire, raw))
        elif not json_name:  # an embedded Go struct (json:""): its fields are inlined
            out.update(decode_message(kind, raw))
        else:
            value = _value(kind, wire, raw)
            if value is None or (_is_zero(value) and json_name not in KEEP_ZERO):
                continue
            out[json_name] = value
    return out


def _decoder(message: str) -> Callable[[bytes], Obj]:
    return lambda data: decode_message(message, data)


WORKLOAD_DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Deployment": _decoder("apps.v1.Deployment"),
    "Job": _decoder("batch.v1.Job"),
    "CronJob": _decoder("batch.v1.CronJob"),
}
