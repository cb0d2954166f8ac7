"""``spec.ignoreDifferences`` and ``RespectIgnoreDifferences=true`` (pure functions).

Sources (argo-cd): ``util/argo/normalizers/diff_normalizer.go`` (a rule matches by ``glob``
on group and kind, and by equal name/namespace when given; each JSON pointer is a JSON-patch
``remove``, each jq expression ``del(<expr>)``; a path that is not there is skipped);
``util/argo/managedfields/managed_fields.go`` (``managedFieldsManagers``: the fields those
managers own in the live object's managedFields are removed from live and desired);
``controller/sync.go`` normalizeTargetResources (with RespectIgnoreDifferences the applied
object takes the live value of every ignored field, ``status`` excluded; a new object is
applied as rendered). Argo CD evaluates jq with gojq; the sandbox takes path expressions
only: ``.a.b``, ``.a["k"]``, ``.a[0]``, ``.a[]`` and ``| select(.x == "v")`` stages.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from pipeline.sandbox.controllers.argocd_project import glob_match

Obj = dict[str, Any]
Path = tuple[str | int, ...]

_STEP = re.compile(r'\.([A-Za-z_][A-Za-z0-9_-]*)|\["((?:[^"\\]|\\.)*)"\]|\[(\d*)\]')
_SELECT = re.compile(r'^select\(\s*(\.[^=\s]*)\s*==\s*("(?:[^"\\]|\\.)*"|-?\d+|true|false)\s*\)$')


class UnsupportedExpression(ValueError):
    """A jq expression beyond the path forms the sandbox evaluates."""


def rules_for(rules: list[Obj], obj: Obj) -> list[Obj]:
    """The ``ignoreDifferences`` entries that apply to ``obj``."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    meta = obj.get("metadata") or {}
    return [
        r
        for r in rules
        if glob_match(str(r.get("group") or ""), group)
        and glob_match(str(r.get("kind") or ""), str(obj.get("kind") or ""))
        and (not r.get("name") or r["name"] == meta.get("name"))
        and (not r.get("namespace") or r["namespace"] == meta.get("namespace"))
    ]


def pointer_path(pointer: str) -> Path | None:
    """RFC 6901 tokens; list indexes become ints when applied."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        return None
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/"))


def _parse_path(text: str) -> list[tuple[str, Any]]:
    steps: list[tuple[str, Any]] = []
    position = 0
    text = text.strip()
    if text == ".":
        return steps
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise UnsupportedExpression(text)
        key, quoted, index = match.groups()
        if key is not None:
            steps.append(("key", key))
        elif quoted is not None:
            steps.append(("key", json.loads(f'"{quoted}"')))
        else:
            steps.append(("each", None) if index == "" else ("index", int(index)))
        position = match.end()
    return steps


def _walk(doc: Any, base: Path, steps: list[tuple[str, Any]]) -> list[Path]:
    paths = [base]
    for kind, arg in steps:
        found: list[Path] = []
        for path in paths:
            value = _get(doc, path)
            keyed = kind == "key" and isinstance(value, dict) and arg in value
            if keyed or (kind == "index" and isinstance(value, list) and arg < len(value)):
                found.append((*path, arg))
            elif kind == "each" and isinstance(value, (list, dict)):
                keys = range(len(value)) if isinstance(value, list) else list(value)
                found += [(*path, k) for k in keys]
        paths = found
    return paths


def jq_paths(doc: Obj, expression: str) -> list[Path]:
    """The paths ``del(<expression>)`` would delete, for the supported forms."""
    paths: list[Path] = [()]
    for stage in expression.split("|"):
        stage = stage.strip()
        selected = _SELECT.match(stage)
        if selected:
            steps, want = _parse_path(selected.group(1)), json.loads(selected.group(2))
            paths = [p for p in paths if any(_get(doc, q) == want for q in _walk(doc, p, steps))]
            continue
        steps = _parse_path(stage)
        paths = [q for p in paths for q in _walk(doc, p, steps)]
    return paths


_MISSING = object()


def _get(doc: Any, path: Path) -> Any:
    for token in path:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and str(token).isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return _MISSING
    return doc


def _remove(doc: Any, path: Path) -> None:
    if not path:
        return
    parent = _get(doc, path[:-1])
    token = path[-1]
    if isinstance(parent, dict):
        parent.pop(token, None)
    elif isinstance(parent, list) and str(token).isdigit() and int(token) < len(parent):
        del parent[int(token)]


def managed_paths(fields: Any, doc: Any, base: Path = ()) -> list[Path]:
    """Paths of ``doc`` a managedFields ``fieldsV1`` set names (``f:`` keys, ``k:`` list keys)."""
    paths: list[Path] = []
    if not isinstance(fields, dict):
        return paths
    for key, child in fields.items():
        if key == ".":
            continue
        if key.startswith("f:"):
            nested = (*base, key[2:])
        elif key.startswith("k:") and isinstance(_get(doc, base), list):
            want = json.loads(key[2:])
            items = _get(doc, base)
            matches = [
                i for i, item in enumerate(items)
                if isinstance(item, dict) and all(item.get(k) == v for k, v in want.items())
            ]  # fmt: skip
            if not matches:
                continue
            nested = (*base, matches[0])
        else:
            continue
        leaf = not child or set(child) == {"."}
        paths += [nested] if leaf else managed_paths(child, doc, nested)
    return paths


def ignored_paths(obj: Obj, rules: list[Obj], live: Obj | None = None) -> list[Path]:
    """Every path of ``obj`` the rules ignore (``live`` supplies managedFields)."""
    paths: list[Path] = []
    for rule in rules_for(rules, obj):
        for pointer in rule.get("jsonPointers") or []:
            path = pointer_path(str(pointer))
            if path is not None and _get(obj, path) is not _MISSING:
                paths.append(path)
        for expression in rule.get("jqPathExpressions") or []:
            try:
                paths += jq_paths(obj, str(expression))
            except UnsupportedExpression:
                continue
        managers = set(rule.get("managedFieldsManagers") or [])
        for entry in ((live or {}).get("metadata") or {}).get("managedFields") or []:
            if entry.get("manager") in managers:
                paths += managed_paths(entry.get("fieldsV1") or {}, obj)
    return paths


def normalized(obj: Obj, rules: list[Obj], live: Obj | None = None) -> Obj:
    """``obj`` without the ignored fields (paths removed deepest-last-index first)."""
    result = copy.deepcopy(obj)
    for path in sorted(set(ignored_paths(obj, rules, live)), key=_order, reverse=True):
        _remove(result, path)
    return result


def _order(path: Path) -> tuple[Any, ...]:
    return tuple((0, int(t), "") if str(t).isdigit() else (1, 0, str(t)) for t in path)


def respected(desired: Obj, live: Obj | None, rules: list[Obj]) -> Obj:
    """RespectIgnoreDifferences: ``desired`` with each ignored field set to its live value
    (removed when live has none); ``status`` never copied; unchanged when nothing is live."""
    if live is None or not rules_for(rules, desired):
        return desired
    live_spec = {k: v for k, v in live.items() if k != "status"}
    result = normalized(desired, rules, live)
    for path in ignored_paths(live_spec, rules, live):
        value = _get(live_spec, path)
        if value is _MISSING or not path:
            continue
        _set(result, path, copy.deepcopy(value))
    return result


def _set(doc: Any, path: Path, value: Any) -> None:
    for token in path[:-1]:
        doc = doc[int(token)] if isinstance(doc, list) else doc.setdefault(token, {})
    last = path[-1]
    if isinstance(doc, list):
        index = int(last)
        if index < len(doc):
            doc[index] = value
        elif index == len(doc):
            doc.append(value)
    elif isinstance(doc, dict):
        doc[last] = value
