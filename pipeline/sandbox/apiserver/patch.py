"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), with the apiserver's error codes.

``k8s.io/apiserver/pkg/endpoints/handlers/patch.go``: an undecodable JSON patch is 400
BadRequest; a patch that decodes but cannot be applied (missing path, failed ``test``) is 422;
more than 10000 operations is 413. A merge patch that is not valid JSON is 400.
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.sandbox.apiserver.decoding import loads
from pipeline.sandbox.apiserver.status import ApiStatusError, bad_request

MAX_JSON_PATCH_OPERATIONS = 10000


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces whole."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def decode_json_patch(raw: bytes) -> list[dict[str, Any]]:
    try:
        ops = loads(raw)
    except ValueError as e:
        raise bad_request(f"error decoding patch: {e}") from e
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise bad_request(
            "error decoding patch: json: cannot unmarshal object into Go value of type "
            "jsonpatch.Patch"
        )
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise ApiStatusError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(ops)}",
        )
    return ops


class _CannotApply(Exception):
    """A JSON patch operation that does not apply; becomes the 422 cause."""


def cannot_apply(cause: str) -> ApiStatusError:
    """``NewGenericServerResponse(422, ...)``: generic message, the library error as cause."""
    return ApiStatusError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": cause}]},
    )


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _CannotApply(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(items: list[Any], part: str, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(items)
    limit = len(items) if allow_end else len(items) - 1
    if not part.isdigit() or int(part) > limit:
        raise _CannotApply(f"Unable to access invalid index: {part}")
    return int(part)


def _resolve(doc: Any, parts: list[str]) -> Any:
    current = doc
    for part in parts:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list):
            current = current[_index(current, part, allow_end=False)]
        else:
            raise KeyError(part)
    return current


def _parent(doc: Any, path: str, op: str) -> tuple[Any, str]:
    parts = _pointer(path)
    try:
        return _resolve(doc, parts[:-1]), parts[-1]
    except KeyError as e:
        raise _CannotApply(f'{op} operation does not apply: doc is missing path: "{path}"') from e


def _get(doc: Any, path: str, op: str) -> Any:
    try:
        return _resolve(doc, _pointer(path))
    except KeyError as e:
        raise _CannotApply(f'{op} operation does not apply: doc is missing path: "{path}"') from e


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    parent, last = _parent(doc, path, op)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, allow_end=False))
    raise _CannotApply(f'{op} operation does not apply: doc is missing path: "{path}"')


def _add(doc: Any, path: str, value: Any, op: str) -> Any:
    if path == "":
        return copy.deepcopy(value)
    parent, last = _parent(doc, path, op)
    if isinstance(parent, dict):
        if op == "replace" and last not in parent:
            raise _CannotApply(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if op == "replace":
            parent[_index(parent, last, allow_end=False)] = copy.deepcopy(value)
        else:
            parent.insert(_index(parent, last, allow_end=True), copy.deepcopy(value))
    else:
        raise _CannotApply(f'{op} operation does not apply: doc is missing path: "{path}"')
    return doc


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations to a copy of ``target``; 422 when one cannot apply."""
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), str(op.get("path", ""))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise bad_request(f'error decoding patch: missing value for operation "{kind}"')
        try:
            if kind in ("add", "replace"):
                doc = _add(doc, path, op["value"], kind)
            elif kind == "remove":
                _remove(doc, path)
            elif kind == "test":
                if _get(doc, path, "test") != op["value"]:
                    raise _CannotApply(f"testing value {path} failed: test failed")
            elif kind in ("move", "copy"):
                source = str(op.get("from", ""))
                value = _get(doc, source, kind)
                if kind == "move":
                    _remove(doc, source, "move")
                doc = _add(doc, path, value, "add")
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except _CannotApply as e:
            raise cannot_apply(str(e)) from e
    return doc
