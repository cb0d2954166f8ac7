"""gRPC status errors as grpc-gateway v1 writes them (reference B, "Error body").

A unary error is ``{"error": msg, "code": <grpc code>, "message": msg, "details": []}`` with
the HTTP status from grpc-gateway's ``HTTPStatusFromCode`` (``runtime/errors.go``). An error
that is not a gRPC status (argo-cd's ``fmt.Errorf`` without a wrapped status) is ``Unknown``
(2), HTTP 500; a wrapped status keeps its code and carries the whole wrapped text (grpc-go
``status.FromError``), e.g. "error setting app operation: another operation is already in
progress" with code 9.
"""

from __future__ import annotations

from typing import Any

OK = 0
CANCELED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

# grpc-gateway v1 runtime.HTTPStatusFromCode
HTTP_STATUS = {
    OK: 200,
    CANCELED: 408,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
}


class GrpcError(Exception):
    """A gRPC status: ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    def wrap(self, prefix: str) -> GrpcError:
        """``fmt.Errorf("prefix: %w", err)`` then ``status.FromError``: same code, longer text."""
        return GrpcError(self.code, f"{prefix}: {self.message}")

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, "message": self.message, "details": []}

    def stream_body(self) -> dict[str, Any]:
        """The ``{"error": ...}`` frame ending a server stream (grpc-gateway v1 streaming)."""
        return {
            "error": {
                "grpc_code": self.code,
                "http_code": self.http_status,
                "message": self.message,
                "http_status": _REASON.get(self.http_status, ""),
                "details": [],
            }
        }


_REASON = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def unknown(message: str) -> GrpcError:
    """A plain Go error reaching the gateway: code Unknown."""
    return GrpcError(UNKNOWN, message)


PERMISSION_DENIED_MESSAGE = "permission denied"


def permission_denied() -> GrpcError:
    """``argocommon.PermissionDeniedAPIError`` (common/common.go)."""
    return GrpcError(PERMISSION_DENIED, PERMISSION_DENIED_MESSAGE)


def app_not_found(name: str) -> GrpcError:
    """``status.Error(codes.NotFound, apierrors.NewNotFound(applications.argoproj.io, name))``."""
    return GrpcError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
