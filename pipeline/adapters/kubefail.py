"""How the Kubernetes adapters (kube.py, argocd.py) bound and name failures: the run's one
:class:`Deadline`, and the mapping of HTTP statuses and transport errors onto pipeline.errors
(a TLS failure is ``kube-tls``, a server answering HTML ``kube-not-api-server``, the deadline
passed DeployTimeoutError naming the server)."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable
from typing import Any

import urllib3

from pipeline.core.ports import Conflict, Expired, NotFound
from pipeline.errors import DeployTimeoutError, KubeAccessError, truncate

REQUEST_TIMEOUT = 30.0  # seconds per request when the run has no deadline
CONNECT_TIMEOUT = 10.0
GRACE = 0.5  # past the core's own deadline, so its verdict (with evidence) comes first


class Deadline:
    """The run's one deadline on ``clock``'s scale (None: each request gets REQUEST_TIMEOUT).

    Shared by every adapter of a command; ``extend_to`` moves it later only (deploy-canary's
    ``--timeout`` counts from the push). ``timeouts`` gives one request's (connect, read)
    timeouts and raises DeployTimeoutError once the deadline has passed."""

    def __init__(self, at: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.at, self.clock = at, clock
        self.server = ""  # the API server's URL, for messages
        self.budget = 0.0  # the --timeout it was set from, for messages

    def start(self, seconds: float) -> None:
        self.budget = seconds
        self.at = self.clock() + seconds + GRACE

    def extend_to(self, at: float) -> None:
        if self.at is not None and at + GRACE > self.at:
            self.at = at + GRACE

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - self.clock()

    def timeouts(self, what: str, longest: float = REQUEST_TIMEOUT) -> tuple[float, float]:
        left = self.remaining()
        if left is None:
            return (min(CONNECT_TIMEOUT, longest), longest)
        if left <= 0:
            raise self.expired(what)
        return (min(CONNECT_TIMEOUT, left), min(longest, left))

    def expired(self, what: str, *, waiting_on: str = "", hint: str = "") -> DeployTimeoutError:
        """The deadline passed during ``what``; ``waiting_on`` says who did not answer
        (default: the API server), ``hint`` what to check (adapters/bounded.py for git)."""
        budget = f" (--timeout {self.budget:g})" if self.budget else ""
        subject = waiting_on or f"the API server {self.server or '(unknown)'} did not answer"
        return DeployTimeoutError(
            f"{what}: {subject} before the run's deadline{budget}",
            hint=hint
            or "check that the API server is up and answering (`kubectl get --raw /readyz`); "
            "raise --timeout if it is only slow",
        )


def status_error(status: int, body: str, what: str) -> Exception:
    try:
        message = str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        message = body
    message = truncate(message or f"HTTP {status}", 500)
    if status == 404:
        return NotFound(message)
    if status == 409:
        return Conflict(message)
    if status == 410:
        return Expired(message)
    reason = {401: "kube-unauthorized", 403: "kube-forbidden"}.get(status, "kube-access")
    hint = {
        401: "the credentials in the kubeconfig were rejected; refresh the token",
        403: "grant the verbs listed in docs/deploy-canary.md (RBAC) to this identity",
    }.get(status, "check that the API server is reachable and healthy")
    return KubeAccessError(f"{what}: HTTP {status}: {message}", hint=hint, reason=reason)


def _server(deadline: Deadline | None) -> str:
    return (deadline.server if deadline else "") or "(the kubeconfig's server)"


def not_api_server(what: str, resp: Any, deadline: Deadline | None) -> KubeAccessError:
    headers = getattr(resp, "headers", None) or {}
    kind = str(headers.get("Content-Type") or "no content type").split(";")[0]
    return KubeAccessError(
        f"{what}: {_server(deadline)} is not a Kubernetes API server: it answered {kind}, not JSON",
        hint="check the server address in the kubeconfig (a web page, proxy or load "
        "balancer answers there)",
        reason="kube-not-api-server",
    )


def looks_like_html(body: str, headers: Any) -> bool:
    kind = str((headers or {}).get("Content-Type") or "")
    return "html" in kind or body.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def transport_error(what: str, error: BaseException, deadline: Deadline | None) -> Exception:
    """A failed connection: the deadline, TLS, or unreachable, named as what it is."""
    cause: BaseException = error
    while isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    server = _server(deadline)
    if isinstance(cause, urllib3.exceptions.SSLError | ssl.SSLError):
        inner = cause.args[0] if cause.args else cause
        return KubeAccessError(
            f"{what}: TLS to the API server {server} failed: {truncate(str(inner), 300)}",
            hint="check the kubeconfig's certificate-authority-data (or insecure-skip-tls-"
            "verify) for this server, and that the server speaks HTTPS",
            reason="kube-tls",
        )
    refused = isinstance(cause, urllib3.exceptions.NewConnectionError)  # (a Timeout subclass)
    timed_out = not refused and isinstance(cause, TimeoutError | urllib3.exceptions.TimeoutError)
    left = deadline.remaining() if deadline is not None else None
    if timed_out and left is not None and left <= 0.05:
        assert deadline is not None
        return deadline.expired(what)
    detail = "no answer in time" if timed_out else type(cause).__name__
    if refused:
        detail = "connection refused or no route"
    return KubeAccessError(
        f"{what}: API server unreachable ({server}): {detail}",
        hint="check the kubeconfig's server address and that the cluster is up",
        reason="kube-unreachable",
    )
