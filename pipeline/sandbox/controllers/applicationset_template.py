"""Pure parts of the ApplicationSet controller: templates, ignore rules, merge patches.

- fasttemplate rendering (``applicationset/utils/utils.go`` Render, non-Go mode): ``{{ key }}``
  tags are trimmed, a tag with no parameter is left exactly as written; nested element maps are
  flattened to dotted keys.
- ``goTemplate: true``: only plain field lookups ``{{.key}}`` / ``{{ .a.b }}`` are supported
  here (no functions, pipelines or conditionals); anything else is an error.
- ``ignoreApplicationDifferences``: the matched fields keep their live value (reference D);
  ``jqPathExpressions`` are accepted only in the ``.a.b.c`` form and treated as JSON pointers.
- ``merge_patch``: the RFC 7386 patch from one object to another (``client.MergeFrom``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

Obj = dict[str, Any]

_FAST_TAG = re.compile(r"\{\{(.*?)\}\}")
_GO_TAG = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_GO_FIELD = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_JQ_PATH = re.compile(r"^(\.[A-Za-z_][A-Za-z0-9_-]*)+$")


def flatten(params: Obj, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def _lookup(params: Obj, dotted: str) -> Any:
    value: Any = params
    for part in dotted.lstrip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f'map has no entry for key "{part}"')
        value = value[part]
    return value


def render_string(text: str, params: Obj, go_template: bool) -> str:
    if go_template:

        def go(match: re.Match[str]) -> str:
            expr = match.group(1)
            if not _GO_FIELD.match(expr):
                raise ValueError(f"unsupported template expression {{{{{expr}}}}} in the sandbox")
            return str(_lookup(params, expr))

        return _GO_TAG.sub(go, text)
    flat = flatten(params)
    return _FAST_TAG.sub(lambda m: flat.get(m.group(1).strip(), m.group(0)), text)


def render_template(value: Any, params: Obj, go_template: bool) -> Any:
    if isinstance(value, str):
        return render_string(value, params, go_template)
    if isinstance(value, list):
        return [render_template(v, params, go_template) for v in value]
    if isinstance(value, dict):
        return {
            render_string(k, params, go_template): render_template(v, params, go_template)
            for k, v in value.items()
        }
    return value


def generate(appset: Obj) -> list[Obj]:
    """The Applications the list generators of ``appset`` produce."""
    spec = appset.get("spec") or {}
    template = spec.get("template") or {}
    go_template = bool(spec.get("goTemplate"))
    apps: list[Obj] = []
    for generator in spec.get("generators") or []:
        if "list" not in generator:
            raise ValueError(f"unsupported generator {sorted(generator)} (sandbox: list only)")
        for element in generator["list"].get("elements") or []:
            rendered = render_template(copy.deepcopy(template), element, go_template)
            apps.append(
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Application",
                    "metadata": rendered.get("metadata") or {},
                    "spec": rendered.get("spec") or {},
                }
            )
    return apps


def _pointer_parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _get(obj: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False, None
    return True, obj


def _set(obj: Obj, parts: list[str], value: Any, present: bool) -> None:
    for part in parts[:-1]:
        if not isinstance(obj, dict):
            return
        obj = obj.setdefault(part, {}) if present else obj.get(part)  # type: ignore[assignment]
        if obj is None:
            return
    if isinstance(obj, dict):
        if present:
            obj[parts[-1]] = copy.deepcopy(value)
        else:
            obj.pop(parts[-1], None)


def ignored_pointers(rules: list[Obj], app_name: str) -> list[str]:
    pointers: list[str] = []
    for rule in rules:
        if rule.get("name") and rule["name"] != app_name:
            continue
        pointers += list(rule.get("jsonPointers") or [])
        for expr in rule.get("jqPathExpressions") or []:
            if _JQ_PATH.match(expr):
                pointers.append("/" + expr.lstrip(".").replace(".", "/"))
    return pointers


def apply_ignored(desired: Obj, live: Obj, app_name: str, rules: list[Obj]) -> Obj:
    """``desired`` with every ignored field set back to its live value (or absent)."""
    result = copy.deepcopy(desired)
    for pointer in ignored_pointers(rules, app_name):
        parts = _pointer_parts(pointer)
        if parts:
            present, value = _get(live, parts)
            _set(result, parts, value, present)
    return result


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 patch turning ``old`` into ``new`` (None when they are equal)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None if old == new else new
    patch: Obj = {}
    for key in old:
        if (key not in new or new[key] is None) and old[key] is not None:
            patch[key] = None
    for key, value in new.items():
        if value is None:
            continue
        if key not in old:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(old[key], dict):
            sub = merge_patch(old[key], value)
            if sub:
                patch[key] = sub
        elif old[key] != value:
            patch[key] = value
    return patch or None
