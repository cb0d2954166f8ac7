"""Per-registry request pacing, as argocd-image-updater's ``limit`` in ``registries.conf``.

image-updater wraps each registry endpoint in a rate limiter (``registry-scanner/pkg/registry/
endpoints.go``): the built-in Docker Hub endpoint gets 10 requests/s (``RateLimitDefault``),
an endpoint inferred from an image prefix 20 requests/s, a configured one without ``limit`` is
unlimited (reference/argocd-image-updater.md section 7). We pace every request of a registry
host (including token requests to its realm's host) through one :class:`Pacer`; ``Retry-After``
on a 429 is honoured separately by the registry transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from pipeline.errors import UsageError

DOCKER_HUB_HOSTS = ("registry-1.docker.io", "index.docker.io", "docker.io", "auth.docker.io")
DOCKER_HUB_RPS = 10.0
INFERRED_RPS = 20.0


class Pacer:
    """At most ``rate`` requests per second, spaced evenly; thread-safe. ``rate <= 0``: none."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0

    def reserve(self) -> float:
        """Reserve the next slot; returns how long the caller must wait for it."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + 1.0 / self.rate
            wait = start - now
            self.waited += wait
            return wait

    def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)


def default_rate(host: str) -> float:
    return DOCKER_HUB_RPS if host in DOCKER_HUB_HOSTS else INFERRED_RPS


class PacedSession(requests.Session):
    """A ``requests.Session`` that waits for its host's :class:`Pacer` before each request."""

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        default: Callable[[str], float] = default_rate,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self._rates = dict(rates or {})
        self._default = default
        self._clock, self._sleep = clock, sleep
        self.pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def pacer(self, host: str) -> Pacer:
        with self._lock:
            if host not in self.pacers:
                rate = self._rates.get(host, self._default(host))
                self.pacers[host] = Pacer(rate, clock=self._clock, sleep=self._sleep)
            return self.pacers[host]

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        self.pacer(urlsplit(text).netloc).acquire()
        return super().request(method, url, *args, **kwargs)

    def waited_seconds(self) -> float:
        with self._lock:
            return sum(p.waited for p in self.pacers.values())


def parse_rates(values: tuple[str, ...]) -> dict[str, float]:
    """``HOST=RPS`` flags to a map (``0`` = unlimited)."""
    rates = {}
    for text in values:
        host, sep, number = text.partition("=")
        try:
            rate = float(number)
        except ValueError:
            rate = -1.0
        if not sep or not host or rate < 0:
            raise UsageError(
                f"--registry-rps {text!r} is not HOST=REQUESTS_PER_SECOND",
                hint="e.g. --registry-rps registry-1.docker.io=5 (0 = unlimited)",
            )
        rates[host] = rate
    return rates
