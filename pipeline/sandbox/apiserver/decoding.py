"""Decoding request bodies as the Go API server does: limits, JSON rules and field types.

- Body size: ``k8s.io/apiserver/pkg/server/config.go`` ``MaxRequestBodyBytes`` (3 MiB);
  ``handlers/rest.go`` ``limitedReadBody`` answers 413 ``Request entity too large: limit is
  3145728`` (``NewRequestEntityTooLargeError``).
- Go's ``encoding/json`` has no NaN or Infinity literals: ``invalid character 'N' looking for
  beginning of value``, nor numbers beyond float64 (``1e400``); YAML's ``.nan``/``.inf`` fail
  when converted to JSON (``json: unsupported value: NaN``).
- A field of the wrong JSON type fails decoding into the Go struct; ``handlers/rest.go``
  ``transformDecodeError`` makes it 400 ``ConfigMap in version "v1" cannot be handled as a
  ConfigMap: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of
  type string``. Checked: ObjectMeta, and ConfigMap/Secret ``data``/``binaryData``/``stringData``.
- Sizes checked by validation (422): ``apimachinery/pkg/api/validation/objectmeta.go``
  ``TotalAnnotationSizeLimitB`` (256 KiB) and ``pkg/apis/core/validation`` ConfigMap and
  Secret data (``MaxSecretSize``, 1 MiB), with ``field.TooLong``'s ``must have at most N bytes``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.validation import metadata_causes

Obj = dict[str, Any]
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
MAX_DATA_SIZE = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit

_STRING_META = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion")
_INT_META = ("generation", "deletionGracePeriodSeconds")
_MAP_META = ("labels", "annotations")
_STRING_DATA: dict[str, dict[str, str]] = {
    # kind -> field -> Go type of the map
    "ConfigMap": {"data": "map[string]string", "binaryData": "map[string][]uint8"},
    "Secret": {"data": "map[string][]uint8", "stringData": "map[string]string"},
}


def too_large() -> st.ApiStatusError:
    return st.ApiStatusError(
        413,
        "RequestEntityTooLarge",
        f"Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}",
    )


def _no_constants(name: str) -> Any:
    if name.startswith("-"):
        raise ValueError(f"invalid character '{name[1]}' in numeric literal")
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: out of float64's range
        raise ValueError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def loads(raw: bytes | str) -> Any:
    """``json.loads`` as Go decodes: no NaN/Infinity literals, no number beyond float64, and
    nesting deeper than the interpreter's stack is refused (Go's limit is 10,000 levels)."""
    try:
        return json.loads(raw, parse_constant=_no_constants, parse_float=_finite_float)
    except RecursionError as e:
        raise ValueError("exceeded max depth") from e


def check_finite(value: Any) -> None:
    """A YAML body with ``.nan``/``.inf``: JSON cannot carry it."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
        raise ValueError(f"json: unsupported value: {text}")
    if isinstance(value, dict):
        for item in value.values():
            check_finite(item)
    elif isinstance(value, list):
        for item in value:
            check_finite(item)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(rt: ResourceType, value: Any, struct: str, path: str, go_type: str) -> None:
    version = rt.api_version.rpartition("/")[2]
    raise st.bad_request(
        f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: json: cannot '
        f"unmarshal {_json_type(value)} into Go struct field {struct}.{path} of type {go_type}"
    )


def _string_map(rt: ResourceType, value: Any, struct: str, path: str, go_type: str) -> None:
    if not isinstance(value, dict):
        _type_error(rt, value, struct, path, go_type)
    binary = go_type.endswith("[]uint8")
    for item in value.values():
        if not isinstance(item, str):
            _type_error(rt, item, struct, path, "[]uint8" if binary else "string")
        if binary:
            try:
                base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError) as e:
                raise st.bad_request(
                    f'{rt.kind} in version "{rt.api_version.rpartition("/")[2]}" cannot be '
                    f"handled as a {rt.kind}: illegal base64 data at input byte "
                    f"{_bad_base64_offset(item)}"
                ) from e


def _bad_base64_offset(text: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for n, char in enumerate(text):
        if char not in alphabet:
            return n if char != "=" else max(n, 0)
    return len(text) - len(text) % 4


def check_field_types(rt: ResourceType, obj: Obj) -> None:
    """400 for a field whose JSON type the Go struct cannot take (``obj`` is a dict)."""
    meta = obj.get("metadata")
    if meta is None:
        return
    if not isinstance(meta, dict):
        _type_error(rt, meta, rt.kind, "metadata", "v1.ObjectMeta")
    for key in _STRING_META:
        if meta.get(key) is not None and not isinstance(meta[key], str):
            _type_error(rt, meta[key], "ObjectMeta", f"metadata.{key}", "string")
    for key in _INT_META:
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            _type_error(rt, value, "ObjectMeta", f"metadata.{key}", "int64")
    for key in _MAP_META:
        if meta.get(key) is not None:
            _string_map(rt, meta[key], "ObjectMeta", f"metadata.{key}", "map[string]string")
    finalizers = meta.get("finalizers")
    if finalizers is not None:
        if not isinstance(finalizers, list):
            _type_error(rt, finalizers, "ObjectMeta", "metadata.finalizers", "[]string")
        for item in finalizers:
            if not isinstance(item, str):
                _type_error(rt, item, "ObjectMeta", "metadata.finalizers", "string")
    refs = meta.get("ownerReferences")
    if refs is not None and not isinstance(refs, list):
        _type_error(rt, refs, "ObjectMeta", "metadata.ownerReferences", "[]v1.OwnerReference")
    if rt.builtin:
        for key, go_type in _STRING_DATA.get(rt.kind, {}).items():
            if obj.get(key) is not None:
                _string_map(rt, obj[key], rt.kind, key, go_type)


def check_sizes(rt: ResourceType, obj: Obj) -> None:
    """422 for invalid label keys or values and annotation keys, annotations over 256 KiB in
    total, ConfigMap/Secret data over 1 MiB (in ``ValidateObjectMeta``'s order)."""
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    total = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    causes = metadata_causes(meta)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        causes.append(
            (
                "metadata.annotations",
                f"Too long: must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
            )
        )
    if rt.builtin and rt.kind in _STRING_DATA:
        size = 0
        for key in _STRING_DATA[rt.kind]:
            for name, value in (obj.get(key) or {}).items():
                raw = str(value).encode()
                if key in ("binaryData",) or (rt.kind == "Secret" and key == "data"):
                    raw = base64.b64decode(raw)
                size += len(name.encode()) + len(raw)
        if size > MAX_DATA_SIZE:
            field = "data" if rt.kind == "Secret" else ""
            causes.append((field, f"Too long: must have at most {MAX_DATA_SIZE} bytes"))
    if causes:
        raise st.invalid(rt, str(meta.get("name", "")), causes)
