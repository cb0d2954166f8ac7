"""Request and response values shared by the HTTP layer and the endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.watchers import Watcher

Obj = dict[str, Any]
_TRUE = {"1", "t", "T", "true", "True", "TRUE"}  # Go strconv.ParseBool
_FALSE = {"0", "f", "F", "false", "False", "FALSE"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    secure: bool = False  # arrived on the TLS listener

    def param(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)

    def flag(self, name: str) -> bool:
        value = self.query.get(name)
        if value is None:
            return False
        if value == "" or value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise st.bad_request(f'invalid boolean value for {name}: "{value}"')

    def integer(self, name: str) -> int | None:
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError as e:
            raise st.bad_request(f'invalid value for {name}: "{value}"') from e

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")


@dataclass
class Response:
    code: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, code: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
        # a newline ends the body, as Go's json.Encoder writes it (kube-apiserver's serializer)
        body = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        return cls(code, body, headers=headers or [])

    @classmethod
    def error(cls, err: st.ApiStatusError) -> Response:
        return cls.json(err.code, err.to_status())


@dataclass
class WatchStream:
    """An open watch for the HTTP layer to drain; ``error`` ends it after one ERROR event."""

    rt: ResourceType
    watcher: Watcher | None
    initial: list[tuple[str, Obj]]
    timeout: float
    bookmarks: bool
    initial_events_end: bool = False
    error: Obj | None = None
    include_object: str = "Metadata"  # a Table's rows: None, Metadata or Object (includeObject)
