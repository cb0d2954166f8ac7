"""Nested OpenAPI v3 schemas of the core, apps and batch v1 kinds, for ``kubectl explain``.

Built from the same ``k8s.io/api`` ``generated.proto`` table the protobuf decoder uses
(``protoschema.json``: field names and types), in the shape of the real ``/openapi/v3``
documents: one ``components.schemas`` entry per type, named ``io.k8s.api.<group>.<version>.
<Type>``, nested objects as ``allOf: [{$ref}]``, ``IntOrString`` as ``type: string, format:
int-or-string``; lists carry their patch and list-type markers (``x-kubernetes-patch-merge-key``,
``x-kubernetes-patch-strategy``, ``x-kubernetes-list-type``/``-list-map-keys``, from the same
tags strategic merge and server-side apply here follow), so kubectl's client-side apply computes
the same strategic merge patches as against a real server. Descriptions are not carried (the
proto table has none); ``status`` is an open object.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pipeline.sandbox.apiserver.fieldpaths import KIND_LIST_MAP_KEYS, LIST_MAP_KEYS
from pipeline.sandbox.apiserver.strategic import KIND_MERGE_KEYS, MERGE_KEYS
from pipeline.sandbox.apiserver.workloadprotobuf import schema

Obj = dict[str, Any]
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_SCALARS: dict[str, Obj] = {
    "string": {"type": "string"},
    "bytes": {"type": "string", "format": "byte"},
    "bool": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
EXTERNAL: dict[str, tuple[str, Obj]] = {
    "apis.meta.v1.ObjectMeta": (
        META + "ObjectMeta",
        {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "generateName": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
                "finalizers": {
                    "type": "array",
                    "items": {"type": "string", "default": ""},
                    "x-kubernetes-list-type": "set",
                    "x-kubernetes-patch-strategy": "merge",
                },
                "ownerReferences": {
                    "type": "array",
                    "items": {"type": "object"},
                    "x-kubernetes-list-map-keys": ["uid"],
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-patch-merge-key": "uid",
                    "x-kubernetes-patch-strategy": "merge",
                },
                "uid": {"type": "string"},
                "resourceVersion": {"type": "string"},
                "generation": {"type": "integer", "format": "int64"},
                "creationTimestamp": {"type": "string", "format": "date-time"},
                "deletionTimestamp": {"type": "string", "format": "date-time"},
                "managedFields": {"type": "array", "items": {"type": "object"}},
            },
        },
    ),
    "apis.meta.v1.LabelSelector": (
        META + "LabelSelector",
        {
            "type": "object",
            "properties": {
                "matchLabels": _STRING_MAP,
                "matchExpressions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key", "operator"],
                        "properties": {
                            "key": {"type": "string", "default": ""},
                            "operator": {"type": "string", "default": ""},
                            "values": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "x-kubernetes-list-type": "atomic",
                },
            },
            "x-kubernetes-map-type": "atomic",
        },
    ),
    "util.intstr.IntOrString": (
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
        {"type": "string", "format": "int-or-string"},
    ),
    "api.resource.Quantity": ("io.k8s.apimachinery.pkg.api.resource.Quantity", {"type": "string"}),
    "apis.meta.v1.Time": (META + "Time", {"type": "string", "format": "date-time"}),
}
# patchStrategy tags besides "merge" (k8s.io/api types.go)
_STRATEGIES = {
    ("apps.v1.DeploymentSpec", "strategy"): "retainKeys",
    ("core.v1.PodSpec", "volumes"): "merge,retainKeys",
}


def schema_name(message: str) -> str:
    return EXTERNAL[message][0] if message in EXTERNAL else "io.k8s.api." + message


def message_for(group: str, version: str, kind: str) -> str | None:
    message = f"{group or 'core'}.{version}.{kind}"
    return message if message in schema() else None


def _ref(message: str) -> Obj:
    return {"allOf": [{"$ref": f"#/components/schemas/{schema_name(message)}"}], "default": {}}


def _type(kind: str) -> Obj:
    return dict(_SCALARS[kind]) if kind in _SCALARS else _ref(kind)


def _list(message: str, kind_name: str, field: str, item: str) -> Obj:
    prop: Obj = {"type": "array", "items": _type(item)}
    key = KIND_MERGE_KEYS.get((kind_name, f"spec.{field}")) or MERGE_KEYS.get(field)
    if item not in _SCALARS and key is not None:
        keys = KIND_LIST_MAP_KEYS.get((kind_name, field)) or LIST_MAP_KEYS.get(field) or (key,)
        prop["x-kubernetes-list-map-keys"] = list(keys)
        prop["x-kubernetes-list-type"] = "map"
        prop["x-kubernetes-patch-merge-key"] = key
        prop["x-kubernetes-patch-strategy"] = _STRATEGIES.get((message, field), "merge")
    else:
        prop["x-kubernetes-list-type"] = "atomic"
    return prop


def _object(message: str) -> Obj:
    kind_name = message.rsplit(".", 1)[1].removesuffix("Spec")
    props: Obj = {}
    for field in schema()[message].values():
        name, kind, repeated = field[0], field[1], len(field) > 2
        if not name:  # embedded struct: its fields are the message's own
            props.update(_object(kind)["properties"])
        elif kind.startswith("map:"):
            props[name] = {"type": "object", "additionalProperties": _type(kind[4:])}
        elif repeated:
            props[name] = _list(message, kind_name, name, kind)
        else:
            props[name] = _type(kind)
            if (message, name) in _STRATEGIES:
                props[name]["x-kubernetes-patch-strategy"] = _STRATEGIES[(message, name)]
    return {"type": "object", "properties": props}


@cache
def schemas(message: str) -> dict[str, Obj]:
    """The component schemas ``message`` needs: itself and every type it refers to."""
    out: dict[str, Obj] = {}
    todo = [message]
    while todo:
        current = todo.pop()
        name = schema_name(current)
        if name in out:
            continue
        if current in EXTERNAL:
            out[name] = EXTERNAL[current][1]
            continue
        out[name] = _object(current)
        for field in schema()[current].values():
            kind = field[1].removeprefix("map:")
            if kind not in _SCALARS:
                todo.append(kind)
    return out


def kind_schemas(message: str, gvk: list[Obj], status: bool) -> dict[str, Obj]:
    """``schemas(message)`` with the kind's own entry completed as the real one: typed
    ``metadata``, ``apiVersion``/``kind`` strings, an open ``status``, its GVK."""
    out = {name: dict(value) for name, value in schemas(message).items()}
    out.update(schemas("apis.meta.v1.ObjectMeta"))
    root = out[schema_name(message)]
    props: Obj = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
    props["metadata"] = _ref("apis.meta.v1.ObjectMeta")
    props.update(root["properties"])
    if status:
        props.setdefault("status", {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    root["properties"] = props
    root["x-kubernetes-group-version-kind"] = gvk
    return out
