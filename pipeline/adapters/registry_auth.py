"""Registry authentication: challenges, bearer tokens and their cache, secret redaction.

The flow is the Docker registry token spec (distribution ``docs/spec/auth/token.md``): a 401
carries ``WWW-Authenticate: Bearer realm="...",service="...",scope="..."`` (or ``Basic
realm="..."`` for htpasswd); the client fetches a token from ``realm`` with ``service`` and
``scope`` (HTTP Basic credentials when it has any), and retries with ``Authorization: Bearer``.
A token response has ``token`` and/or ``access_token``; ``expires_in`` defaults to 60 seconds
when absent (same spec, "Token Response Fields"). Challenges are parsed per RFC 7235 section 4.1.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

DEFAULT_TOKEN_SECONDS = 60
_EXPIRY_MARGIN = 5.0

# one auth-param (name=token or name="quoted string") or a bare token (a scheme name)
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*
            (?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<plain>[^\s,]*))
      | (?P<scheme>[!#$%&'*+.^_`|~0-9A-Za-z-]+)
    )\s*,?""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scope(self) -> str:
        return self.params.get("scope", "")

    @property
    def error(self) -> str:
        return self.params.get("error", "")


def parse_www_authenticate(header: str) -> list[Challenge]:
    """All challenges in a ``WWW-Authenticate`` value, in order; unknown text is skipped."""
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        match = _TOKEN_RE.match(header, position)
        if match is None or match.end() == position:
            position += 1
            continue
        position = match.end()
        if match.group("scheme"):
            challenges.append(Challenge(scheme=match.group("scheme").lower()))
        elif challenges:
            quoted = match.group("quoted")
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group("plain")
            challenges[-1].params[match.group("name").lower()] = value
    return challenges


def preferred_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Bearer over Basic (what Docker does when a registry offers both)."""
    by_scheme = {c.scheme: c for c in challenges}
    return by_scheme.get("bearer") or by_scheme.get("basic")


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


@dataclass
class _CachedToken:
    value: str = field(repr=False)
    expires_at: float


class TokenCache:
    """Bearer tokens per (host, scope) until shortly before they expire; thread-safe."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str], _CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, host: str, scope: str) -> str | None:
        with self._lock:
            cached = self._tokens.get((host, scope))
            if cached is None or cached.expires_at <= self._clock():
                return None
            return cached.value

    def put(self, host: str, scope: str, token: str, expires_in: float | None) -> None:
        seconds = float(expires_in or DEFAULT_TOKEN_SECONDS)
        expires_at = self._clock() + max(seconds - _EXPIRY_MARGIN, 1.0)
        with self._lock:
            self._tokens[(host, scope)] = _CachedToken(token, expires_at)

    def drop(self, host: str, scope: str) -> None:
        with self._lock:
            self._tokens.pop((host, scope), None)

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


class Redactor:
    """Remembers every secret the client handled and blanks them out of text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *secrets: str | None) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 3)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "<redacted>")
        return text

    def __repr__(self) -> str:
        return "Redactor()"
