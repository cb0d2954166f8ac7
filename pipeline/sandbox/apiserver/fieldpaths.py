"""Field paths and field sets as structured-merge-diff models them, for managedFields.

A path is a tuple of ``fieldsV1`` keys (``sigs.k8s.io/structured-merge-diff/v4/fieldpath``,
``serialize-pe.go``): ``f:<field>``, ``k:<json of the list-map keys>`` for an item of an
associative list, ``v:<json value>`` for an item of a set, ``i:<index>`` otherwise.

The type of each node comes from the field name, as the OpenAPI of ``k8s.io/api`` declares it
(``x-kubernetes-list-type``/``x-kubernetes-list-map-keys``, ``x-kubernetes-map-type``):

- associative lists (``+listType=map``): containers, env, volumes, ... keyed as in
  ``LIST_MAP_KEYS``; a missing key field with a schema default (``protocol: TCP``) takes it;
- sets (``+listType=set``): ``metadata.finalizers``; every other list is atomic;
- granular maps (``map[string]...``): labels, annotations, ConfigMap/Secret data, ...: each
  entry is a member of its own;
- atomic structs and maps: ``LabelSelector`` (``+structType=atomic``) and ServiceSpec's
  ``selector`` (``+mapType=atomic``), under the field names in ``ATOMIC``.

Custom resources (no list-type markers in their schemas) have atomic lists, except the
metadata every object shares.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

Path = tuple[str, ...]
Obj = dict[str, Any]

LIST_MAP_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "ports": ("containerPort", "protocol"),
    "volumes": ("name",),
    "volumeMounts": ("mountPath",),
    "volumeDevices": ("devicePath",),
    "imagePullSecrets": ("name",),
    "conditions": ("type",),
    "ownerReferences": ("uid",),
    "hostAliases": ("ip",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    "resourceClaims": ("name",),
    "secrets": ("name",),
}
# (kind, field) whose keys differ from the field name's elsewhere: ServiceSpec.Ports
KIND_LIST_MAP_KEYS = {("Service", "ports"): ("port", "protocol")}
KEY_DEFAULTS = {"protocol": "TCP"}
SETS = frozenset({"finalizers"})
GRANULAR_MAPS = frozenset(
    {
        "labels",
        "annotations",
        "data",
        "binaryData",
        "stringData",
        "nodeSelector",
        "limits",
        "requests",
        "hard",
        "capacity",
        "allocatable",
    }
)
ATOMIC = frozenset({"selector", "podSelector", "namespaceSelector", "labelSelector"})
_METADATA_LISTS = frozenset({"finalizers", "ownerReferences"})


class Schema:
    """Which nodes of one kind's objects are maps, atomic, sets or associative lists."""

    def __init__(self, kind: str, builtin: bool) -> None:
        self.kind = kind
        self.builtin = builtin

    def list_keys(self, path: Path) -> tuple[str, ...] | None:
        field = path[-1][2:] if path else ""
        if not self.builtin and not (len(path) == 2 and path[0] == "f:metadata"):
            return None
        return KIND_LIST_MAP_KEYS.get((self.kind, field)) or LIST_MAP_KEYS.get(field)

    def is_set(self, path: Path) -> bool:
        return bool(path) and path[-1][2:] in SETS

    def is_granular_map(self, path: Path) -> bool:
        if not path or not path[-1].startswith("f:"):
            return False
        field = path[-1][2:]
        if field in ("labels", "annotations"):
            return len(path) >= 2 and path[-2] == "f:metadata"
        return self.builtin and field in GRANULAR_MAPS

    def is_atomic(self, path: Path) -> bool:
        return self.builtin and bool(path) and path[-1][2:] in ATOMIC

    def is_metadata_list(self, path: Path) -> bool:
        return len(path) == 2 and path[0] == "f:metadata" and path[1][2:] in _METADATA_LISTS


def item_key(schema: Schema, path: Path, index: int, item: Any) -> str:
    """The path element of one list item (``k:``, ``v:`` or ``i:``)."""
    keys = schema.list_keys(path)
    if keys is not None and isinstance(item, dict):
        values = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys}
        present = {k: v for k, v in values.items() if v is not None}
        if present:
            return "k:" + json.dumps(present, sort_keys=True, separators=(",", ":"))
    if schema.is_set(path) and not isinstance(item, dict | list):
        return "v:" + json.dumps(item, separators=(",", ":"))
    return f"i:{index}"


_NODE = object()  # a member without a value of its own (map entry node, list item)


def leaves(schema: Schema, obj: Any, nodes_for_maps: bool) -> dict[Path, Any]:
    """Every member path with its value (``_NODE`` for items and, with ``nodes_for_maps``,
    for granular maps themselves): ``typed.ToFieldSet`` for an applied configuration, and
    the sides ``typed.Compare`` diffs for an update."""
    out: dict[Path, Any] = {}
    _walk(schema, obj, (), out, nodes_for_maps)
    return out


def _walk(schema: Schema, value: Any, path: Path, out: dict[Path, Any], maps: bool) -> None:
    if isinstance(value, dict):
        if not value or schema.is_atomic(path):
            out[path] = value
            return
        granular = schema.is_granular_map(path)
        if granular and maps:
            out[path] = _NODE
        for key, child in value.items():
            child_path = (*path, "f:" + key)
            if granular:
                out[child_path] = _NODE if isinstance(child, dict) and child else child
            _walk(schema, child, child_path, out, maps)
        return
    if isinstance(value, list) and value and _associative(schema, path):
        for n, item in enumerate(value):
            item_path = (*path, item_key(schema, path, n, item))
            if item_path[-1].startswith("v:"):
                out[item_path] = item
                continue
            out[item_path] = _NODE
            _walk(schema, item, item_path, out, maps)
        return
    if path:
        out[path] = value


def _associative(schema: Schema, path: Path) -> bool:
    return schema.list_keys(path) is not None or schema.is_set(path)


def is_node(value: Any) -> bool:
    return value is _NODE


def to_fields_v1(paths: Iterable[Path]) -> Obj:
    """``fieldpath.Set.ToJSON``: nested keys, ``.`` marking a member that also has children."""
    tree: Obj = {}
    members: list[Obj] = []
    for path in paths:
        node = tree
        for element in path:
            child = node.get(element)
            if child is None:
                child = node[element] = {}
            node = child
        members.append(node)
    for node in members:  # a member that also has children gets its "." (a hot path: every write)
        if node and "." not in node:
            node["."] = {}
    return _sorted(tree)


def _sorted(tree: Obj) -> Obj:
    # "." sorts before every "f:", "i:", "k:" and "v:" element, as ToJSON writes it first
    return {k: _sorted(tree[k]) if tree[k] else {} for k in sorted(tree)}


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """The member paths of a ``fieldsV1`` object (unknown shapes contribute nothing)."""
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for key, child in tree.items():
        if key == ".":
            out.add(prefix)
            continue
        path = (*prefix, str(key))
        if isinstance(child, dict) and child:
            out |= from_fields_v1(child, path)
        else:
            out.add(path)
    return out


def path_string(path: Path) -> str:
    """``fieldpath.Path.String``: ``.spec.containers[name="app"].image``."""
    parts = []
    for element in path:
        kind, rest = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + rest)
        elif kind == "k:":
            keys = json.loads(rest)
            parts.append(
                "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(keys.items())) + "]"
            )
        elif kind == "v:":
            parts.append(f"[={rest}]")
        else:
            parts.append(f"[{rest}]")
    return "".join(parts)
