"""HTTP to a registry: scheme choice, authentication, 429 handling, error mapping.

* Scheme: https. For loopback and ``insecure`` hosts, https first and plain http when the TLS
  handshake fails, as dockerd does for insecure registries (moby ``registry/service.go``
  ``lookupV2Endpoints`` lists https then http); the choice is cached per host.
* Auth: on 401 the ``WWW-Authenticate`` challenge decides Basic or a Bearer token (see
  ``registry_auth``); one retry with credentials, then a ``registry-auth`` error.
* 429: wait ``Retry-After`` when that ends before the deadline (without a deadline: when it is
  no longer than one request's timeout), else RateLimitedError at once, saying when to retry.
* 5xx answers (500, 502, 503, 504) and connections refused or reset: retried with jittered
  exponential back-off, at most ``_MAX_TRANSIENT_RETRIES`` times and only inside the deadline.
* Nothing secret is logged or put in an error: bodies are truncated and redacted.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import requests

from pipeline.adapters.registry_auth import (
    Challenge,
    Redactor,
    TokenCache,
    parse_www_authenticate,
    preferred_challenge,
)
from pipeline.adapters.registry_limits import RegistryStats, parse_rate_limit, parse_retry_after
from pipeline.core.ports import CredentialLookup, Credentials
from pipeline.errors import DeployTimeoutError, RateLimitedError, RegistryError, truncate

log = logging.getLogger(__name__)

_MAX_429_RETRIES = 5
_DEFAULT_RETRY_SECONDS = 1.0
_MAX_TRANSIENT_RETRIES = 3
_TRANSIENT_STATUS = frozenset((500, 502, 503, 504))
_BACKOFF_SECONDS = 0.5


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or "]" in host else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def auth_hint(host: str) -> str:
    return (
        f"log in with 'docker login {host}' (or point DOCKER_CONFIG at a config that has it), "
        f"and check that the imagePullSecret / Image Updater pull secret for {host} holds a user "
        "with pull access"
    )


class _Unreachable(Exception):
    """A connection refused or reset: ``error`` is what to raise when retries run out."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(str(error))
        self.error = error


class RegistryTransport:
    """Sends requests to registries; one per process is enough (caches are per host)."""

    def __init__(
        self,
        credentials: CredentialLookup | None = None,
        ca_bundle: str | None = None,
        insecure: Iterable[str] = (),
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self._credentials = credentials
        self._insecure = set(insecure)
        self._timeout = timeout
        self.clock, self._wall_clock, self._sleep = clock, wall_clock, sleep
        self._session = session or requests.Session()
        # passed per request: a Session's verify loses to REQUESTS_CA_BUNDLE (psf/requests#3829)
        self._verify: str | bool = ca_bundle or True
        self._schemes: dict[str, str] = {}
        self._basic: dict[str, str] = {}
        self._known_credentials: dict[str, Credentials | None] = {}
        self._tokens = TokenCache(clock)
        self.redact = Redactor()
        self.stats = RegistryStats()

    def __repr__(self) -> str:
        return f"RegistryTransport(hosts={sorted(self._schemes)})"

    def close(self) -> None:
        self._session.close()

    # -- public -------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        kind: str,
        scope: str,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> requests.Response:
        """Send with auth and 429 handling; return any response below 400 or 404."""
        authed_once = False
        throttled = transient = 0
        while True:
            try:
                response = self._send(method, host, path, kind, scope, headers, deadline)
            except _Unreachable as e:
                if transient >= _MAX_TRANSIENT_RETRIES or not self._back_off(transient, deadline):
                    raise e.error from None
                transient += 1
                continue
            retry = response.status_code in _TRANSIENT_STATUS and transient < _MAX_TRANSIENT_RETRIES
            if retry and self._back_off(transient, deadline):
                transient += 1
                continue
            if response.status_code == 401 and not authed_once:
                authed_once = True
                self._authenticate(host, scope, response, deadline)
                continue
            if response.status_code == 429 and throttled < _MAX_429_RETRIES:
                throttled += 1
                self._wait_out(host, response, deadline)
                continue
            if response.status_code in (401, 403):
                raise self._auth_error(host, method, path, response)
            if response.status_code == 429:
                raise RateLimitedError(
                    f"{host} kept answering 429 Too Many Requests", hint=auth_hint(host)
                )
            if response.status_code >= 400 and response.status_code != 404:
                raise RegistryError(
                    f"{method} {path} on {host} answered {response.status_code}: "
                    f"{self.body_excerpt(response)}",
                    hint="check that the registry is healthy and the repository name is right",
                )
            return response

    def body_excerpt(self, response: requests.Response) -> str:
        return self.redact(truncate(response.text.strip(), 300)) if response.text else "(empty)"

    # -- sending ------------------------------------------------------------------------------

    def _remaining(self, deadline: float | None) -> float:
        if deadline is None:
            return self._timeout
        left = deadline - self.clock()
        if left <= 0:
            raise DeployTimeoutError(
                "the deadline passed while talking to the registry",
                hint="raise --timeout or check why the registry is slow",
            )
        return min(self._timeout, left)

    def _send(
        self,
        method: str,
        host: str,
        path: str,
        kind: str,
        scope: str,
        headers: Mapping[str, str] | None,
        deadline: float | None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        authorization = self._authorization(host, scope)
        if authorization:
            all_headers["Authorization"] = authorization
        scheme = self._schemes.get(host)
        candidates = [scheme] if scheme else self._scheme_candidates(host)
        for index, candidate in enumerate(candidates):
            url = f"{candidate}://{host}{path}"
            try:
                response = self._session.request(
                    method,
                    url,
                    headers=all_headers,
                    timeout=self._remaining(deadline),
                    verify=self._verify,
                    allow_redirects=True,
                )
            except requests.exceptions.SSLError as e:
                untrusted = "CERTIFICATE_VERIFY_FAILED" in str(e)
                if index + 1 < len(candidates) and not untrusted:
                    log.debug("TLS to %s failed, trying plain http like dockerd", host)
                    continue
                problem = "its certificate is not trusted" if untrusted else type(e).__name__
                raise RegistryError(
                    f"TLS to registry {host} failed: {problem}",
                    hint="pass the registry's CA bundle (--registry-ca) or fix its certificate",
                ) from None
            except requests.RequestException as e:
                error = RegistryError(
                    f"cannot reach registry {host}: {type(e).__name__}",
                    hint="check the registry address and that it is running",
                )
                if isinstance(e, requests.ConnectionError) and not isinstance(
                    e, requests.exceptions.ConnectTimeout
                ):
                    raise _Unreachable(error) from None  # refused or reset: worth a retry
                raise error from None
            self._schemes[host] = candidate
            self.stats.requests[(method, kind)] += 1
            limit = parse_rate_limit(response.headers)
            if limit is not None:
                self.stats.rate_limits[host] = limit
            log.debug("%s %s -> %s", method, url, response.status_code)
            return response
        raise AssertionError("unreachable: no scheme candidates")  # pragma: no cover

    def _back_off(self, attempt: int, deadline: float | None) -> bool:
        """Sleep before retry ``attempt + 1`` (jittered exponential back-off); False when the
        pause would end past the deadline, so the caller gives up now."""
        pause = _BACKOFF_SECONDS * (2**attempt) * (0.5 + random.random())
        if deadline is not None and self.clock() + pause >= deadline:
            return False
        self._sleep(pause)
        self.stats.waited_seconds += pause
        return True

    def _scheme_candidates(self, host: str) -> list[str]:
        if host in self._insecure or is_loopback(host):
            return ["https", "http"]
        return ["https"]

    def _authorization(self, host: str, scope: str) -> str | None:
        token = self._tokens.get(host, scope)
        if token:
            return f"Bearer {token}"
        return self._basic.get(host)

    # -- auth ---------------------------------------------------------------------------------

    def _lookup(self, host: str) -> Credentials | None:
        if host not in self._known_credentials:
            found = self._credentials(host) if self._credentials else None
            if found is not None:
                self.redact.add(found.password)
            self._known_credentials[host] = found
        return self._known_credentials[host]

    def _authenticate(
        self, host: str, scope: str, response: requests.Response, deadline: float | None
    ) -> None:
        challenge = preferred_challenge(
            parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        )
        creds = self._lookup(host)
        if challenge is None or challenge.scheme == "basic":
            if creds is None:
                raise self._auth_error(host, response.request.method or "", "", response)
            raw = f"{creds.username}:{creds.password}".encode()
            encoded = base64.b64encode(raw).decode()
            self.redact.add(encoded)
            self._basic[host] = f"Basic {encoded}"
            return
        self._tokens.drop(host, scope)
        self._fetch_token(host, scope, challenge, creds, deadline)

    def _fetch_token(
        self,
        host: str,
        scope: str,
        challenge: Challenge,
        creds: Credentials | None,
        deadline: float | None,
    ) -> None:
        params = {"service": challenge.service, "scope": challenge.scope or scope}
        auth = (creds.username, creds.password) if creds else None
        try:
            reply = self._session.get(
                challenge.realm,
                params=params,
                auth=auth,
                timeout=self._remaining(deadline),
                verify=self._verify,
            )
        except requests.RequestException as e:
            raise RegistryError(
                f"cannot reach the token service of {host}: {type(e).__name__}",
                hint="check the network path to the registry's auth realm",
                reason="registry-auth",
            ) from None
        self.stats.requests[("GET", "token")] += 1
        if reply.status_code in (401, 403):
            raise RegistryError(
                f"the token service of {host} rejected the credentials ({reply.status_code})",
                hint=auth_hint(host),
                reason="registry-auth",
            )
        body: dict[str, Any] = reply.json() if reply.ok else {}
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(
                f"the token service of {host} answered {reply.status_code} without a token",
                hint=auth_hint(host),
                reason="registry-auth",
            )
        self.redact.add(str(token))
        self._tokens.put(host, scope, str(token), body.get("expires_in"))

    def _auth_error(
        self, host: str, method: str, path: str, response: requests.Response
    ) -> RegistryError:
        creds_state = "with" if self._lookup(host) else "without"
        return RegistryError(
            f"{host} denied {method} {path or 'request'} {creds_state} credentials "
            f"({response.status_code}): {self.body_excerpt(response)}",
            hint=auth_hint(host),
            reason="registry-auth",
        )

    # -- 429 ----------------------------------------------------------------------------------

    def _wait_out(self, host: str, response: requests.Response, deadline: float | None) -> None:
        delay = parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())
        wait = _DEFAULT_RETRY_SECONDS if delay is None else delay
        self.stats.throttled += 1
        limit = deadline - self.clock() if deadline is not None else self._timeout
        if wait >= limit:
            when = datetime.datetime.fromtimestamp(self._wall_clock() + wait, datetime.UTC)
            raise RateLimitedError(
                f"{host} is rate limiting (429) and asks to wait {wait:.0f}s, past the deadline",
                hint=f"retry after {when:%Y-%m-%dT%H:%M:%SZ}; or log in to raise the limit, "
                "or use a registry mirror",
            )
        log.info("registry %s answered 429; waiting %.1fs as Retry-After asks", host, wait)
        self._sleep(wait)
        self.stats.waited_seconds += wait
