"""Label and field selectors, parsed once and matched against stored objects.

Grammar and messages follow ``k8s.io/apimachinery/pkg/labels/selector.go`` (``=``, ``==``,
``!=``, ``in``, ``notin``, ``key``, ``!key``; comma = AND) and ``pkg/fields/selector.go``
(``=``, ``==``, ``!=`` only). Unsupported field labels answer 400 "field label not supported"
as in ``apiserver/pkg/registry/generic/registry/store.go``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.status import bad_request

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET_TERM = re.compile(r"^\s*(\S+?)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms]


def _check_key(key: str, selector: str) -> None:
    if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must '
            "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        )


def _check_value(value: str) -> None:
    if not _LABEL_VALUE.match(value) or len(value) > 63:
        raise bad_request(
            f'unable to parse requirement: values[0][{value}]: Invalid value: "{value}": a valid '
            "label must be an empty string or consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character"
        )


def _label_term(term: str, selector: str) -> Matcher:
    set_match = _SET_TERM.match(term)
    if set_match:
        key, op, raw = set_match.group(1), set_match.group(2), set_match.group(3)
        _check_key(key, selector)
        values = {v.strip() for v in raw.split(",") if v.strip()}
        for value in values:
            _check_value(value)
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("==", "!=", "="):
        if op in term:
            key, value = (p.strip() for p in term.split(op, 1))
            _check_key(key, selector)
            _check_value(value)
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        _check_key(key, selector)
        return lambda labels: key not in labels
    _check_key(term, selector)
    return lambda labels: term in labels


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over an object's ``metadata.labels``; 400 on a malformed selector."""
    if not selector or not selector.strip():
        return lambda obj: True
    terms = [_label_term(t, selector) for t in _split_terms(selector)]

    def matches(obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Obj, path: str) -> str:
    """The string a field selector compares: missing fields read as ``""``; bools lowercase."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if path == "source" and isinstance(current, dict):  # events: source.component
        current = current.get("component")
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def field_matcher(rt: ResourceType, selector: str | None) -> Matcher:
    """A predicate for ``fieldSelector``; 400 on bad syntax or an unsupported field label."""
    if not selector or not selector.strip():
        return lambda obj: True
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        for op in ("==", "!=", "="):
            if op in term:
                key, value = (p.strip() for p in term.split(op, 1))
                checks.append((key, op == "!=", value))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    for key, _, _ in checks:
        if key not in rt.field_labels:
            raise bad_request(f"field label not supported: {key}")

    def matches(obj: Obj) -> bool:
        return all((field_value(obj, key) == value) != negate for key, negate, value in checks)

    return matches
