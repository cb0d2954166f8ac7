"""One connection to the Argo CD API server (argocd-server's REST gateway), as the argocd CLI
makes it: ``Authorization: Bearer <token>``, TLS (with a CA file, or ``--insecure``), or plain
HTTP (``--plaintext``), under ``--grpc-web-root-path`` when the server is served below a path.

Every request is bounded by the run's one :class:`Deadline` (adapters/kubefail.py) and counted.
Errors are grpc-gateway v1 bodies, ``{"error", "code", "message", "details"}`` with the gRPC
code (reference B, "Error body"); :func:`grpc_error` maps them onto pipeline.errors. Streams
(``/api/v1/stream/...``, pod logs) are chunked JSON, one ``{"result": ...}`` or
``{"error": ...}`` object per line; :class:`ApiStream` reads them and ``stop()`` unblocks the
reading thread by shutting the socket down.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from pipeline.adapters.kubefail import Deadline
from pipeline.core.ports import Conflict, NotFound, Obj
from pipeline.errors import DeployTimeoutError, KubeAccessError, truncate

# gRPC status codes (google.golang.org/grpc/codes)
UNKNOWN, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 2, 3, 5, 6, 7
FAILED_PRECONDITION, ABORTED, UNAVAILABLE, UNAUTHENTICATED = 9, 10, 14, 16
RBAC_HINT = (
    "grant this Argo CD account or project role the action in argocd-rbac-cm policy.csv "
    "(`pipeline render rbac` prints the lines), then use a fresh token"
)
TOKEN_HINT = (
    "ARGOCD_AUTH_TOKEN (or --auth-token) was refused: it is expired, revoked, or from another "
    "Argo CD; generate a new one (`argocd account generate-token --account <ci-account>`)"
)


@dataclass
class ApiTarget:
    """Where the Argo CD API server is and how to talk to it (no secrets in ``repr``)."""

    base_url: str  # scheme://host:port[/root-path], no trailing slash
    token: str = field(repr=False)
    verify: bool | str = True  # CA file path, True (system CAs) or False (--insecure)
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class ArgoCDConnection:
    """Requests to one Argo CD API server, within the run's deadline."""

    def __init__(self, target: ApiTarget, deadline: Deadline | None = None) -> None:
        self.target = target
        self.deadline = deadline or Deadline()
        self.deadline.server = self.deadline.server or target.base_url
        self.by_verb: Counter[str] = Counter()
        self.session = requests.Session()
        self.session.verify = target.verify
        self.session.trust_env = True  # HTTPS_PROXY / NO_PROXY as the argocd CLI honours them
        self.session.headers.update(
            {"Authorization": f"Bearer {target.token}", "Accept": "application/json",
             **target.headers}
        )  # fmt: skip
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=32, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    @property
    def server(self) -> str:
        return self.target.base_url

    def count(self, verb: str) -> None:
        self.by_verb[verb] += 1

    def request(
        self, what: str, method: str, path: str, *, query: dict[str, Any] | None = None,
        body: Obj | None = None, verb: str = "",
    ) -> Obj:  # fmt: skip
        """One unary call; the decoded JSON object. Raises the mapped error."""
        self.count(verb or method.lower())
        resp = self._send(what, method, path, query, body, stream=False)
        try:
            data = resp.json()
        except ValueError:
            raise self._not_argocd(what, resp) from None
        if not isinstance(data, dict):
            raise self._not_argocd(what, resp)
        return data

    def stream(
        self, what: str, path: str, query: dict[str, Any], seconds: float, verb: str = "watch"
    ) -> ApiStream:
        """A server stream read for at most ``seconds`` (and never past the deadline)."""
        self.count(verb)
        return ApiStream(self, what, path, query, seconds)

    def _send(
        self, what: str, method: str, path: str, query: dict[str, Any] | None,
        body: Obj | None, *, stream: bool, read: float | None = None,
    ) -> requests.Response:  # fmt: skip
        connect, longest = self.deadline.timeouts(what)
        params = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        try:
            resp = self.session.request(
                method, self.target.base_url + path, params=params, json=body, stream=stream,
                timeout=(connect, read if read is not None else longest), allow_redirects=False,
                verify=self.target.verify,  # per request: $REQUESTS_CA_BUNDLE beats the session
            )  # fmt: skip
        except requests.RequestException as e:
            raise self.transport_error(what, e) from None
        if resp.status_code >= 300:
            text = resp.text if not stream else resp.raw.read(65536).decode("utf-8", "replace")
            resp.close()
            raise grpc_error(what, resp.status_code, text, resp.headers, self.server)
        return resp

    def transport_error(self, what: str, error: BaseException) -> Exception:
        left = self.deadline.remaining()
        cause = _root_cause(error)
        if isinstance(cause, ssl.SSLError | urllib3.exceptions.SSLError) or isinstance(
            error, requests.exceptions.SSLError
        ):
            return KubeAccessError(
                f"{what}: TLS to the Argo CD API server {self.server} failed: "
                f"{truncate(str(cause), 300)}",
                hint="pass --argocd-ca with the server's CA certificate, --insecure to skip "
                "verification, or --plaintext when the server speaks plain HTTP",
                reason="argocd-tls",
            )
        timed_out = isinstance(error, requests.Timeout)
        if timed_out and left is not None and left <= 0.05:
            return self.deadline.expired(what)
        if isinstance(error, requests.ConnectTimeout | requests.ConnectionError) and not timed_out:
            detail = "connection refused or no route"
        else:
            detail = "no answer in time" if timed_out else type(cause).__name__
        return KubeAccessError(
            f"{what}: Argo CD API server unreachable ({self.server}): {detail}",
            hint="check --argocd-server (ARGOCD_SERVER): host:port or a URL of argocd-server",
            reason="argocd-unreachable",
        )

    def _not_argocd(self, what: str, resp: requests.Response) -> KubeAccessError:
        kind = str(resp.headers.get("Content-Type") or "no content type").split(";")[0]
        return KubeAccessError(
            f"{what}: {self.server} is not an Argo CD API server: it answered {kind}, not JSON",
            hint="check --argocd-server (and --grpc-web-root-path when Argo CD is served "
            "below a path)",
            reason="argocd-not-api-server",
        )

    def close(self) -> None:
        self.session.close()


def _root_cause(error: BaseException) -> BaseException:
    cause: BaseException = error
    for _ in range(6):
        inner = getattr(cause, "reason", None) or (cause.args[0] if cause.args else None)
        if not isinstance(inner, BaseException):
            break
        cause = inner
    return cause


def grpc_error(
    what: str, status: int, text: str, headers: Any = None, server: str = ""
) -> Exception:
    """A grpc-gateway error body as our error; a non-JSON body means another server answered."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        kind = str((headers or {}).get("Content-Type") or "no content type").split(";")[0]
        return KubeAccessError(
            f"{what}: HTTP {status} from {server or 'the server'}, which answered {kind}: "
            "not an Argo CD API server",
            hint="check --argocd-server (and --grpc-web-root-path)",
            reason="argocd-not-api-server",
        )
    code = body.get("code")
    message = truncate(str(body.get("message") or body.get("error") or f"HTTP {status}"), 500)
    return error_for_code(what, code if isinstance(code, int) else -1, message, status)


def error_for_code(what: str, code: int, message: str, status: int = 0) -> Exception:
    if code == NOT_FOUND:
        return NotFound(message)
    if code in (ALREADY_EXISTS, ABORTED) or (
        code == FAILED_PRECONDITION and "another operation is already in progress" in message
    ):
        return Conflict(message)
    if code == UNKNOWN and "error applying patch" in message and "test" in message:
        return Conflict(f"the Application changed since it was read ({message})")
    if code == UNAUTHENTICATED:
        return KubeAccessError(f"{what}: {message}", hint=TOKEN_HINT, reason="argocd-unauthorized")
    if code == PERMISSION_DENIED:
        return KubeAccessError(f"{what}: {message}", hint=RBAC_HINT, reason="argocd-forbidden")
    if code == 4:  # DeadlineExceeded
        return DeployTimeoutError(f"{what}: Argo CD gave up: {message}", hint="retry")
    reason = "argocd-unavailable" if code == UNAVAILABLE or status >= 500 else "argocd-refused"
    return KubeAccessError(
        f"{what}: Argo CD answered: {message}" + (f" (gRPC code {code})" if code >= 0 else ""),
        hint="check the Argo CD API server's health (`argocd version`)"
        if reason == "argocd-unavailable"
        else "see the message; docs/troubleshooting.md lists Argo CD API answers",
        reason=reason,
    )


class ApiStream:
    """``{"result": ...}`` messages of one server stream; ``stop()`` from any thread."""

    def __init__(
        self, conn: ArgoCDConnection, what: str, path: str, query: dict[str, Any], seconds: float
    ) -> None:
        self.conn, self.what, self.path, self.query = conn, what, path, query
        self.until = conn.deadline.clock() + max(0.0, seconds)
        self._resp: requests.Response | None = None
        self._stopped = False

    def results(self) -> Iterator[Obj]:
        """Each message's ``result``; ends quietly at ``seconds``, when the server ends the
        stream or the connection drops (the caller watches again); raises an ``error``."""
        if self._stopped:
            return
        clock = self.conn.deadline.clock
        read = max(0.05, min(30.0, self.until - clock()))
        self._resp = self.conn._send(
            self.what, "GET", self.path, self.query, None, stream=True, read=read
        )
        try:
            for line in self._resp.iter_lines(chunk_size=None):
                if self._stopped:
                    return
                if line.strip():
                    message = json.loads(line)
                    if message.get("error"):
                        error = message["error"]
                        raise error_for_code(
                            self.what, int(error.get("grpc_code", error.get("code", -1))),
                            str(error.get("message", "")), int(error.get("http_code", 0)),
                        )  # fmt: skip
                    if isinstance(message.get("result"), dict):
                        yield message["result"]
                if clock() >= self.until:
                    return
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
            return  # a cut or quiet stream ends like a timeout: the caller watches again
        finally:
            self._resp.close()

    def stop(self) -> None:
        self._stopped = True
        raw = getattr(self._resp, "raw", None)
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
