"""Validation of custom resources against their CRD's structural schema (422 Invalid).

The checks kube-openapi's validator makes for the keywords CRDs use most, with its messages
(``k8s.io/kube-openapi/pkg/validation/validate``, as the apiextensions apiserver reports
them): ``type`` (``spec.replicas: Invalid value: "string": spec.replicas in body must be of
type integer: "string"``), ``required`` (``spec.host: Required value``), ``enum``
(``spec.mode: Unsupported value: "X": supported values: "A", "B"``), and
``x-kubernetes-int-or-string``. Not checked: formats, patterns, lengths, minimum/maximum,
``oneOf``/``anyOf``, CEL ``x-kubernetes-validations``.
"""

from __future__ import annotations

import json
from typing import Any

Obj = dict[str, Any]
Cause = tuple[str, str]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(wanted: str, actual: str) -> bool:
    return wanted == actual or (wanted == "number" and actual == "integer")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _go_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _walk(schema: Any, value: Any, path: str) -> list[Cause]:
    if not isinstance(schema, dict):
        return []
    actual = _json_type(value)
    if schema.get("x-kubernetes-int-or-string"):
        if actual not in ("integer", "string"):
            why = f"{path} in body must be of type integer,string: {json.dumps(actual)}"
            return [(path, f"Invalid value: {json.dumps(actual)}: {why}")]
        return []
    wanted = schema.get("type")
    if wanted and not (value is None and schema.get("nullable")) and not _type_ok(wanted, actual):
        why = f"{path} in body must be of type {wanted}: {json.dumps(actual)}"
        return [(path, f"Invalid value: {json.dumps(actual)}: {why}")]
    causes: list[Cause] = []
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        supported = ", ".join(_go_value(v) for v in enum)
        causes.append(
            (path, f"Unsupported value: {_go_value(value)}: supported values: {supported}")
        )
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                causes.append((_child(path, key), "Required value"))
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            sub = properties.get(key, additional if isinstance(additional, dict) else None)
            causes += _walk(sub, item, _child(path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            causes += _walk(schema.get("items"), item, f"{path}[{n}]")
    return causes


def schema_causes(schema: Obj, obj: Obj) -> list[Cause]:
    """Every (field, message) the schema finds wrong with ``obj`` (root: the whole object)."""
    causes: list[Cause] = []
    for key in schema.get("required") or []:
        if key not in obj:
            causes.append((key, "Required value"))
    properties = schema.get("properties") or {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        causes += _walk(properties.get(key), value, key)
    return causes
