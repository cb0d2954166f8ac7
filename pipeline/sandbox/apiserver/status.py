"""``metav1.Status`` errors with the real apiserver's codes, reasons and messages.

Messages follow ``k8s.io/apimachinery/pkg/api/errors/errors.go`` (NewNotFound, NewAlreadyExists,
NewConflict, NewInvalid, NewBadRequest, NewMethodNotSupported, NewGone) and the handler strings
in ``k8s.io/apiserver/pkg/endpoints/handlers`` (e.g. the 415 list of patch media types).
"""

from __future__ import annotations

from typing import Any

from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]

CONFLICT_TAIL = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class ApiStatusError(Exception):
    """An API error; the HTTP layer renders it as a ``Status`` body with ``code``."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_status(self) -> Obj:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: Obj | None = None) -> Obj:
    body: Obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:  # metav1.Status field order: details before code
        body["details"] = details
    body["code"] = code
    return body


def success_status(rt: ResourceType, name: str, uid: str) -> Obj:
    """What DELETE answers for kinds whose delete returns a Status (not used for most)."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": _details(rt, name) | {"uid": uid},
    }


def _details(rt: ResourceType, name: str) -> Obj:
    details: Obj = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> ApiStatusError:
    return ApiStatusError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def namespace_not_found(namespace: str) -> ApiStatusError:
    return ApiStatusError(
        404,
        "NotFound",
        f'namespaces "{namespace}" not found',
        {"name": namespace, "kind": "namespaces"},
    )


def no_such_resource() -> ApiStatusError:
    return ApiStatusError(404, "NotFound", "the server could not find the requested resource", {})


def already_exists(rt: ResourceType, name: str) -> ApiStatusError:
    return ApiStatusError(
        409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name)
    )


def conflict(rt: ResourceType, name: str, why: str = CONFLICT_TAIL) -> ApiStatusError:
    return ApiStatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
        _details(rt, name),
    )


# field.ErrorType -> the cause reason (``k8s.io/apimachinery/pkg/util/validation/field``)
_CAUSE_REASONS = (
    ("Required value", "FieldValueRequired"),
    ("Unsupported value", "FieldValueNotSupported"),
    ("Forbidden", "FieldValueForbidden"),
    ("Duplicate value", "FieldValueDuplicate"),
    ("Too long", "FieldValueTooLong"),
    ("Not found", "FieldValueNotFound"),
)


def _reason(message: str) -> str:
    return next((r for p, r in _CAUSE_REASONS if message.startswith(p)), "FieldValueInvalid")


def invalid(
    rt: ResourceType, name: str, causes: list[tuple[str, str]], by_resource: bool = False
) -> ApiStatusError:
    """422 Invalid; ``causes`` are (field, "Invalid value: ...: why") pairs. The message names
    the kind as ``NewInvalid(GroupKind)`` prints it (``StatefulSet.apps "db" is invalid``), or,
    with ``by_resource``, the resource (``applications.argoproj.io "x"``: the generic store's
    update checks qualify by resource)."""
    qualified = rt.qualified if by_resource else (f"{rt.kind}.{rt.group}" if rt.group else rt.kind)
    joined = ", ".join(f"{f}: {m}" for f, m in causes)
    if len(causes) > 1:
        joined = f"[{joined}]"
    details: Obj = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = [{"reason": _reason(m), "message": m, "field": f} for f, m in causes]
    return ApiStatusError(422, "Invalid", f'{qualified} "{name}" is invalid: {joined}', details)


def bad_request(message: str) -> ApiStatusError:
    return ApiStatusError(400, "BadRequest", message)


def method_not_allowed() -> ApiStatusError:
    return ApiStatusError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(message: str) -> ApiStatusError:
    return ApiStatusError(415, "UnsupportedMediaType", message)


def forbidden(rt: ResourceType, name: str, why: str) -> ApiStatusError:
    return ApiStatusError(
        403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: {why}', _details(rt, name)
    )


def expired(requested: int, oldest: int) -> ApiStatusError:
    return ApiStatusError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def internal(message: str) -> ApiStatusError:
    return ApiStatusError(500, "InternalError", f"Internal error occurred: {message}")
