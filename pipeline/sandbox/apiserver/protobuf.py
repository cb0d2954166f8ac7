"""Protobuf request bodies (``application/vnd.kubernetes.protobuf``) for a few kinds.

Imperative kubectl commands (``kubectl create namespace|secret|configmap``) send protobuf and
do not fall back to JSON. The envelope is the magic ``k8s\\0`` followed by a
``runtime.Unknown`` (``k8s.io/apimachinery/pkg/runtime/generated.proto``: typeMeta=1, raw=2,
contentEncoding=3, contentType=4); ``raw`` is the object in the field numbering of
``k8s.io/api/core/v1/generated.proto``. Only Namespace, Secret, ConfigMap and
ServiceAccount (with the ObjectMeta fields people set) are decoded; other kinds answer 415.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.sandbox.apiserver import status as st

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
Obj = dict[str, Any]
Field = tuple[int, int, Any]  # number, wire type, value (int or bytes)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[Field]:
    """The (number, wire type, value) triples of one protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _map(entry: bytes, as_bytes: bool = False) -> tuple[str, Any]:
    key, value = "", b""
    for number, _, raw in fields(entry):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw
    if as_bytes:
        return key, base64.b64encode(value).decode()
    return key, value.decode()


def _object_meta(data: bytes) -> Obj:
    meta: Obj = {}
    strings = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    for number, _, raw in fields(data):
        if number in strings and raw:  # proto2 sends empty strings; JSON omits them
            meta[strings[number]] = raw.decode()
        elif number in (11, 12):
            key, value = _map(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value
        elif number == 14:
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def _namespace(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            finalizers = [v.decode() for n, _, v in fields(raw) if n == 1]
            obj["spec"] = {"finalizers": finalizers} if finalizers else {}
    return obj


def _secret(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            key, value = _map(raw, as_bytes=True)
            obj.setdefault("data", {})[key] = value
        elif number == 3 and raw:
            obj["type"] = raw.decode()
        elif number == 4:
            key, value = _map(raw)
            obj.setdefault("stringData", {})[key] = value
        elif number == 5:
            obj["immutable"] = bool(raw)
    return obj


def _configmap(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 2:
            key, value = _map(raw)
            obj.setdefault("data", {})[key] = value
        elif number == 3:
            key, value = _map(raw, as_bytes=True)
            obj.setdefault("binaryData", {})[key] = value
        elif number == 4:
            obj["immutable"] = bool(raw)
    return obj


def _service_account(data: bytes) -> Obj:
    obj: Obj = {}
    for number, _, raw in fields(data):
        if number == 1:
            obj["metadata"] = _object_meta(raw)
        elif number == 3:
            name = next((v.decode() for n, _, v in fields(raw) if n == 1), "")
            obj.setdefault("imagePullSecrets", []).append({"name": name})
        elif number == 4:
            obj["automountServiceAccountToken"] = bool(raw)
    return obj


DECODERS: dict[str, Callable[[bytes], Obj]] = {
    "Namespace": _namespace,
    "ServiceAccount": _service_account,
    "Secret": _secret,
    "ConfigMap": _configmap,
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
