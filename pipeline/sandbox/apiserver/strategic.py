"""Strategic merge patch for built-in kinds: the parts kubectl and people actually send.

Follows ``k8s.io/apimachinery/pkg/util/strategicpatch/patch.go``: maps merge and ``null``
deletes; lists whose Go field carries ``patchStrategy:"merge"`` merge item by item on their
``patchMergeKey`` (new items are appended); other lists are replaced whole. Directives:
``$patch: replace|delete|merge`` in a map or as a list element, ``$retainKeys``,
``$deleteFromPrimitiveList/<field>``; ``$setElementOrder/<field>`` is accepted and ignored.

The merge keys come from the ``patchMergeKey`` tags in ``k8s.io/api`` (core/v1 PodSpec,
Container, ObjectMeta; apps/v1 status). They are keyed by field name, which is unambiguous for
the kinds this server serves.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.sandbox.apiserver.status import bad_request

Obj = dict[str, Any]

MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "secrets": "name",  # ServiceAccount.secrets
}
# lists of scalars with patchStrategy "merge": union, order kept
PRIMITIVE_MERGE_LISTS = frozenset({"finalizers"})

_DIRECTIVE = "$patch"
_RETAIN = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_ELEMENT_ORDER = "$setElementOrder/"


# (kind, field path) whose merge key differs from the one its field name has elsewhere
KIND_MERGE_KEYS: dict[tuple[str, str], str] = {
    ("Service", "spec.ports"): "port",  # core/v1 ServiceSpec.Ports patchMergeKey:"port"
}


def strategic_merge(original: Obj, patch: Any, kind: str = "") -> Obj:
    """Apply a strategic merge patch to a copy of ``original`` (an object of ``kind``)."""
    if not isinstance(patch, dict):
        raise bad_request("error decoding patch: strategic merge patch must be a JSON object")
    result = _merge_map(copy.deepcopy(original), patch, (kind, ""))
    return result if result is not None else {}


def _at(where: tuple[str, str], key: str) -> tuple[str, str]:
    kind, path = where
    return kind, f"{path}.{key}" if path else key


def _merge_map(original: Obj | None, patch: Obj, where: tuple[str, str]) -> Obj | None:
    directive = patch.get(_DIRECTIVE)
    if directive == "delete":
        return None
    body = {k: v for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "replace":
        replaced: Obj = _strip_directives(body)
        return replaced
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive}")
    result: Obj = dict(original) if isinstance(original, dict) else {}
    retain = body.pop(_RETAIN, None)
    for key, value in body.items():
        if key.startswith(_ELEMENT_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            doomed = set(map(str, value or []))
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if str(v) not in doomed]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(result.get(key), value, _at(where, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, _at(where, key))
        else:
            result[key] = value
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(field: str, original: Any, patch: list[Any], where: tuple[str, str]) -> list[Any]:
    current = list(original) if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get(_DIRECTIVE) == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not _is_directive_only(i)]
    if field in PRIMITIVE_MERGE_LISTS:
        return current + [v for v in patch if v not in current]
    key = KIND_MERGE_KEYS.get(where) or MERGE_KEYS.get(field)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip_directives(i) for i in patch]
    for item in patch:
        index = next(
            (
                n
                for n, o in enumerate(current)
                if isinstance(o, dict) and o.get(key) == item.get(key)
            ),
            None,
        )
        if item.get(_DIRECTIVE) == "delete":
            if index is not None:
                current.pop(index)
            continue
        if index is None:
            current.append(_strip_directives(item))
        else:
            merged = _merge_map(current[index], item, where)
            if merged is None:
                current.pop(index)
            else:
                current[index] = merged
    return current


def _is_directive_only(item: Any) -> bool:
    return isinstance(item, dict) and set(item) == {_DIRECTIVE}


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and v is not None
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
