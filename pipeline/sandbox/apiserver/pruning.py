"""Structural-schema pruning of custom resources (``apiextensions-apiserver/pkg/apiserver/
schema/pruning/algorithm.go``).

Fields a CRD's ``openAPIV3Schema`` does not specify are dropped on every write, unless the
schema (at that level) says ``x-kubernetes-preserve-unknown-fields: true``. Maps given by
``additionalProperties`` keep every key; arrays prune each item with ``items``;
``x-kubernetes-embedded-resource`` objects keep ``apiVersion``, ``kind`` and ``metadata``. At
the root, ``apiVersion``, ``kind`` and ``metadata`` are always kept (metadata is checked as
ObjectMeta elsewhere). With ``fieldValidation=Strict`` the same unknown fields are a 400.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_EMBEDDED = ("apiVersion", "kind", "metadata")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(schema: Any, value: Any, path: str, prune: bool, root: bool) -> list[str]:
    if not isinstance(schema, dict):
        return []
    unknown: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get(_PRESERVE))
        embedded = root or bool(schema.get("x-kubernetes-embedded-resource"))
        for key in list(value):
            if embedded and key in _EMBEDDED and not (properties and key in properties):
                continue
            if isinstance(properties, dict) and key in properties:
                sub = properties[key]
            elif isinstance(additional, dict):
                sub = additional
            elif additional is True or preserve:
                continue
            else:
                unknown.append(_child(path, key))
                if prune:
                    del value[key]
                continue
            unknown += _walk(sub, value[key], _child(path, key), prune, False)
    elif isinstance(value, list):
        items = schema.get("items")
        for n, item in enumerate(value):
            unknown += _walk(items, item, f"{path}[{n}]", prune, False)
    return unknown


def unknown_fields(schema: Obj, obj: Obj) -> list[str]:
    """Dotted paths (``spec.ports[0].foo``) of the fields the schema would prune."""
    return _walk(schema, obj, "", False, True)


def prune(schema: Obj, obj: Obj) -> list[str]:
    """Drop what the schema does not specify, in place; returns the dropped paths."""
    return _walk(schema, obj, "", True, True)
