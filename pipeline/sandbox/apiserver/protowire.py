"""Protobuf wire format primitives shared by the body decoders (``protobuf.py``,
``authprotobuf.py``): varints, length-delimited fields, map entries and ObjectMeta
(``k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

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


def string_map(entry: bytes, as_bytes: bool = False) -> tuple[str, Any]:
    key, value = "", b""
    for number, _, raw in fields(entry):
        if number == 1:
            key = raw.decode()
        elif number == 2:
            value = raw
    if as_bytes:
        return key, base64.b64encode(value).decode()
    return key, value.decode()


def object_meta(data: bytes) -> Obj:
    meta: Obj = {}
    strings = {1: "name", 2: "generateName", 3: "namespace", 6: "resourceVersion"}
    for number, _, raw in fields(data):
        if number in strings and raw:  # proto2 sends empty strings; JSON omits them
            meta[strings[number]] = raw.decode()
        elif number in (11, 12):
            key, value = string_map(raw)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = value
        elif number == 14:
            meta.setdefault("finalizers", []).append(raw.decode())
    return meta


def int_or_string(data: bytes) -> int | str | None:
    """``intstr.IntOrString`` (type=1: 0 int, 1 string; intVal=2; strVal=3); None when zero."""
    kind, number, text = 0, 0, ""
    for field, _, raw in fields(data):
        if field == 1:
            kind = raw
        elif field == 2:
            number = raw
        elif field == 3:
            text = raw.decode()
    if kind == 1:
        return text or None
    return number or None
