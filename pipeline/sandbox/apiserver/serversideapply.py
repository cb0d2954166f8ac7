"""Server-side apply: ``PATCH`` with ``application/apply-patch+yaml``.

``k8s.io/apiserver/pkg/endpoints/handlers/patch.go`` (``applyPatcher``: the body is YAML, an
object that does not exist yet is created from it) and structured-merge-diff's
``merge.Updater.Apply``:

1. the configuration is merged into the live object: maps and structs field by field,
   associative lists item by item on their keys, sets as unions, everything else replaced;
2. fields the same manager applied last time and left out now are removed unless another
   manager owns them (``Updater.prune``), so a default may come back;
3. fields the merge changed that another manager owns are conflicts: 409 unless
   ``force=true``, which takes them over;
4. the applier's entry (operation Apply) owns exactly the fields of its configuration.

Validation (``PatchOptions``): ``fieldManager`` is required for apply, ``force`` is only for
apply, a manager name has at most 128 characters; the configuration's ``apiVersion`` must be
the endpoint's and ``metadata.managedFields`` must be unset.
"""

from __future__ import annotations

import copy
from typing import Any, cast

import yaml

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.fieldpaths import Path, Schema, item_key, leaves
from pipeline.sandbox.apiserver.managedfields import (
    APPLY,
    UPDATE,
    Entry,
    compare,
    decode,
    encode,
    schema_for,
    take,
    tracked,
)
from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]
FIELD_MANAGER_MAX_LENGTH = 128
BEFORE_FIRST_APPLY = "before-first-apply"


def _patch_options_invalid(causes: list[tuple[str, str]]) -> st.ApiStatusError:
    joined = ", ".join(f"{f}: {m}" for f, m in causes)
    if len(causes) > 1:
        joined = f"[{joined}]"
    details = {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [
            {
                "reason": "FieldValueRequired" if "Required" in m else "FieldValueForbidden",
                "message": m,
                "field": f,
            }
            for f, m in causes
        ],
    }
    return st.ApiStatusError(
        422, "Invalid", f'PatchOptions.meta.k8s.io "" is invalid: {joined}', details
    )


def validate_patch_options(apply: bool, manager: str | None, force: str | None) -> None:
    """``ValidatePatchOptions``: 422 naming ``fieldManager``/``force``."""
    causes = []
    if not apply and force is not None:
        causes.append(("force", "Forbidden: may not be specified for non-apply patch"))
    if apply and not manager:
        causes.append(("fieldManager", "Required value: is required for apply patch"))
    if manager and len(manager) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(
            ("fieldManager", f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes")
        )
    if causes:
        raise _patch_options_invalid(causes)


def decode_configuration(rt: ResourceType, raw: bytes) -> Obj:
    """The applied configuration: YAML (JSON is YAML) with this endpoint's apiVersion."""
    try:
        config = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise st.bad_request(f"error decoding YAML: {e}") from e
    if not isinstance(config, dict):
        raise st.bad_request(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
            "unmarshal array into Go value of type map[string]interface {}"
        )
    version = config.get("apiVersion")
    if version != rt.api_version:
        raise st.bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{version or ''}, expected: {rt.api_version}"
        )
    if config.get("kind") != rt.kind:
        raise st.bad_request(
            f"Object kind {config.get('kind') or ''} does not match the expected kind {rt.kind}"
        )
    meta = config.get("metadata")
    if isinstance(meta, dict) and meta.get("managedFields") is not None:
        raise st.bad_request("metadata.managedFields must be nil")
    return config


def _filter(rt: ResourceType, config: Obj, subresource: str | None) -> Obj:
    """Drop what the endpoint resets from the configuration (``resetFields``)."""
    if subresource == "status":
        kept = ("apiVersion", "kind", "metadata", "status")
        return {k: v for k, v in config.items() if k in kept}
    if rt.has_status_subresource or rt.kind in ("Pod", "Namespace"):
        return {k: v for k, v in config.items() if k != "status"}
    return config


def merge(schema: Schema, live: Any, config: Any, path: Path = ()) -> Any:
    """``TypedValue.Merge``: the configuration over the live value."""
    if isinstance(config, dict) and isinstance(live, dict) and not schema.is_atomic(path):
        out = dict(live)
        for key, value in config.items():
            child = (*path, "f:" + key)
            if key in live:
                out[key] = merge(schema, live[key], value, child)
            else:
                out[key] = copy.deepcopy(value)
        return out
    associative = schema.list_keys(path) is not None or schema.is_set(path)
    if isinstance(config, list) and isinstance(live, list) and associative:
        merged = list(live)
        index = {item_key(schema, path, n, item): n for n, item in enumerate(merged)}
        for n, item in enumerate(config):
            key = item_key(schema, path, n, item)
            if key.startswith("i:") or key not in index:
                merged.append(copy.deepcopy(item))
            else:
                merged[index[key]] = merge(schema, merged[index[key]], item, (*path, key))
        return merged
    return copy.deepcopy(config)


def _prefixes(paths: set[Path]) -> set[Path]:
    return {p[:n] for p in paths for n in range(1, len(p) + 1)}


def _remove(schema: Schema, obj: Any, path: Path) -> None:
    node, walked = obj, cast(Path, ())
    for element in path[:-1]:
        node = _child(schema, node, walked, element)
        walked = (*walked, element)
        if node is None:
            return
    last = path[-1]
    if last.startswith("f:") and isinstance(node, dict):
        node.pop(last[2:], None)
    elif isinstance(node, list):
        node[:] = [item for n, item in enumerate(node) if item_key(schema, walked, n, item) != last]


def _child(schema: Schema, node: Any, path: Path, element: str) -> Any:
    if element.startswith("f:"):
        return node.get(element[2:]) if isinstance(node, dict) else None
    if isinstance(node, list):
        return next(
            (item for n, item in enumerate(node) if item_key(schema, path, n, item) == element),
            None,
        )
    return None


def apply(
    rt: ResourceType,
    live: Obj | None,
    config: Obj,
    manager: str,
    force: bool,
    subresource: str | None,
    now: str,
) -> Obj:
    """The object after ``manager`` applies ``config`` to ``live`` (None: it does not exist),
    with its managedFields; raises the 409 conflict error."""
    schema = schema_for(rt)
    config = _filter(rt, config, subresource)
    base: Obj = copy.deepcopy(live) if live is not None else {}
    meta = base.setdefault("metadata", {})
    entries = decode(meta.pop("managedFields", None)) or []
    if live is not None and not entries:
        owned = tracked(rt, compare(schema, {}, base).changed, subresource)
        first = Entry(BEFORE_FIRST_APPLY, UPDATE, rt.api_version, "", now, owned)
        entries = [first] if owned else []
    actor = Entry(manager, APPLY, rt.api_version, subresource or "")
    previous = next((e for e in entries if e.key == actor.key), None)
    last = previous.fields if previous is not None else set()
    applied = tracked(rt, set(leaves(schema, config, nodes_for_maps=False)), subresource)
    merged: Obj = merge(schema, copy.deepcopy(base), config)  # pruning edits it in place
    keep = _prefixes(applied) | _prefixes(
        {p for e in entries if e.key != actor.key for p in e.fields}
    )
    for path in sorted(last - applied, key=len):
        if path not in keep:
            _remove(schema, merged, path)
    take(entries, actor.key, compare(schema, base, merged), force)
    if previous is None:
        entries.append(actor)
        previous = actor
    previous.fields = applied
    previous.api_version = rt.api_version
    if merged != base or previous.time is None:
        previous.time = now
    merged["metadata"]["managedFields"] = encode(entries)
    return merged
