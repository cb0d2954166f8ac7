"""The HTTP/1.1 layer: parse requests, dispatch, write JSON or chunked watch streams.

Any exception in a handler becomes a 500 ``Status``; API errors become their own ``Status``.
Watch streams are ``Transfer-Encoding: chunked`` newline-delimited JSON events (reference E.3):
events are pushed by the store's write path into the watcher's queue, so delivery is prompt.
Every stream ends with the terminating chunk; a failure while streaming sends an ``ERROR``
event with a 500 ``Status`` first, as the apiserver's watch handler does.

Scale: one thread per connection and no ``select()`` anywhere (it fails on descriptors past
1,023), a listen backlog of ``httpserving.BACKLOG`` (the kernel caps it at ``somaxconn``), and
bodies over 3 MiB answered 413 without being kept in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.decoding import MAX_REQUEST_BODY_BYTES, too_large
from pipeline.sandbox.apiserver.messages import Request, Response, WatchStream
from pipeline.sandbox.apiserver.tables import table_for, wants_table
from pipeline.sandbox.httpserving import TrackedHandler, TrackedHTTPServer

log = logging.getLogger(__name__)
Obj = dict[str, Any]
_IDLE_CHECK = 2.0  # seconds between checks that an idle watch's client is still there
_DISCARD_LIMIT = 64 * 1024 * 1024  # a larger refused body is not read: the connection closes


def raise_descriptor_limit() -> int:
    """Lift the soft open-files limit to the hard one (each connection is a descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
    return soft


def _combined_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased names; a repeated header's values joined with ``,`` (RFC 9110 5.3)."""
    headers: dict[str, str] = {}
    for name, value in items:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


class Dispatcher:
    """What the HTTP layer calls; implemented by the API server's router."""

    def dispatch(self, req: Request) -> Response | WatchStream:  # pragma: no cover
        raise NotImplementedError

    def current_rv(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def end_watch(self, stream: WatchStream) -> None:  # pragma: no cover
        raise NotImplementedError


class APIHTTPServer(TrackedHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        dispatcher: Dispatcher,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """With ``ssl_context`` the listener speaks HTTPS (handshakes run in the handler
        threads) and its requests are marked ``secure``."""
        self.dispatcher = dispatcher
        self.streams = 0  # watch streams being written
        self.streams_done = threading.Condition()
        super().__init__(address, RequestHandler, ssl_context)

    def wait_for_streams(self, timeout: float) -> bool:
        """Wait until every watch stream has written its end (after the store closed them)."""
        with self.streams_done:
            return self.streams_done.wait_for(lambda: self.streams == 0, timeout)


class RequestHandler(TrackedHandler):
    server: APIHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _body(self) -> bytes | None:
        """The request body, or ``None`` after answering 400/413 for it."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.close_connection = True
            self._send(Response.error(st.bad_request("invalid Content-Length")))
            return None
        if length <= MAX_REQUEST_BODY_BYTES:
            return self.rfile.read(length) if length else b""
        if length <= _DISCARD_LIMIT:  # read and drop it, so the client gets to see the 413
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 16))
                if not chunk:
                    break
                length -= len(chunk)
        else:
            self.close_connection = True
        self._send(Response.error(too_large()))
        return None

    def _handle(self) -> None:
        body = self._body()
        if body is None:
            return
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=_combined_headers(self.headers.items()),
            body=body,
            secure=self.server.secure,
        )
        try:
            result = self.server.dispatcher.dispatch(req)
        except st.ApiStatusError as e:
            result = Response.error(e)
        except Exception as e:  # never crash on bad input: a 500 Status instead
            log.exception("handler failed for %s %s", self.command, self.path)
            result = Response.error(st.internal(f"{type(e).__name__}: {e}"))
        if isinstance(result, WatchStream):
            self._stream(result, req)
        else:
            self._send(result)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def _send(self, response: Response) -> None:
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, event_type: str, obj: Obj, stream: WatchStream, table: bool) -> None:
        if event_type not in ("ERROR", "BOOKMARK"):
            obj = stream.rt.view(obj)
            if table:
                obj = table_for(stream.rt, {"metadata": {}, "items": [obj]}, stream.include_object)
        line = json.dumps({"type": event_type, "object": obj}, separators=(",", ":"))
        self._chunk(line.encode() + b"\n")

    def _bookmark(self, stream: WatchStream, initial_end: bool = False) -> Obj:
        meta: Obj = {"resourceVersion": str(self.server.dispatcher.current_rv())}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": stream.rt.kind, "apiVersion": stream.rt.api_version, "metadata": meta}

    def _stream(self, stream: WatchStream, req: Request) -> None:
        with self.server.streams_done:
            self.server.streams += 1
        try:
            self._write_stream(stream, req)
        finally:
            with self.server.streams_done:
                self.server.streams -= 1
                self.server.streams_done.notify_all()

    def _write_stream(self, stream: WatchStream, req: Request) -> None:
        table = wants_table(req)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        try:
            if stream.error is not None:
                self._event("ERROR", stream.error, stream, table)
            else:
                self._drain(stream, table)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
        except Exception as e:  # never end a watch silently: an ERROR Status, then the end
            log.exception("watch failed for %s", self.path)
            self.close_connection = True
            with contextlib.suppress(OSError):
                status = st.internal(f"{type(e).__name__}: {e}").to_status()
                self._event("ERROR", status, stream, False)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        finally:
            self.server.dispatcher.end_watch(stream)

    def _drain(self, stream: WatchStream, table: bool) -> None:
        deadline = time.monotonic() + stream.timeout
        for event_type, obj in stream.initial:
            self._event(event_type, obj, stream, table)
        if stream.initial_events_end:
            self._event("BOOKMARK", self._bookmark(stream, initial_end=True), stream, table)
        assert stream.watcher is not None
        while True:
            remaining = deadline - time.monotonic()
            item = stream.watcher.next(min(remaining, _IDLE_CHECK))
            if item is None:
                return  # server stopping: end cleanly
            if item is False:
                if remaining > _IDLE_CHECK:
                    if self.client_gone():
                        return
                    continue
                if stream.bookmarks:
                    self._event("BOOKMARK", self._bookmark(stream), stream, table)
                return
            assert isinstance(item, tuple)
            self._event(item[0], item[1], stream, table)
