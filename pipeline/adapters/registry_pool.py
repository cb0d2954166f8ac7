"""One registry client per credential reference, sharing one paced HTTP session.

image-updater resolves an image's ``pull-secret`` only when it talks to that registry; we go
one step lazier: the reference is resolved when the registry asks for credentials (a 401
challenge), so an open registry never needs the Secret and a bad reference only fails the
images that need it. References resolve in adapters/credential_refs.py, as for deploy-canary's
pull secrets: a ``pullsecret:``/``secret:`` is read from the cluster, ``env:`` from the
environment, ``ext:`` runs the script with image-updater's 10 s timeout.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping

from pipeline.adapters.credential_refs import (
    CredentialResolver,
    GetSecret,
    RunScript,
    run_ext_script,
)
from pipeline.adapters.ratelimit import PacedSession
from pipeline.adapters.registry import RegistryClient
from pipeline.core.imageupdater.credrefs import CredentialRef
from pipeline.core.ports import CredentialLookup, RateLimit


class RegistryPool:
    """``client(ref)``: the RegistryClient for one credential reference (None = anonymous)."""

    def __init__(
        self,
        *,
        get_secret: GetSecret,
        getenv: Callable[[str], str | None] = os.environ.get,
        run_script: RunScript = run_ext_script,
        ca_bundle: str | None = None,
        insecure: tuple[str, ...] = (),
        rates: Mapping[str, float] | None = None,
        timeout: float = 30.0,
        session: PacedSession | None = None,
    ) -> None:
        self._resolver = CredentialResolver(get_secret, getenv=getenv, run_script=run_script)
        self._ca_bundle, self._insecure, self._timeout = ca_bundle, insecure, timeout
        self.session = session or PacedSession(rates)
        self._clients: dict[CredentialRef | None, RegistryClient] = {}
        self._lock = threading.Lock()

    def credentials(self, ref: CredentialRef) -> CredentialLookup:
        """What the client for ``ref`` calls with a host after a 401."""
        return self._resolver.lookup(ref)

    def client(self, ref: CredentialRef | None) -> RegistryClient:
        with self._lock:
            if ref not in self._clients:
                self._clients[ref] = RegistryClient(
                    credentials=self.credentials(ref) if ref is not None else None,
                    ca_bundle=self._ca_bundle,
                    insecure=self._insecure,
                    timeout=self._timeout,
                    session=self.session,
                )
            return self._clients[ref]

    def requests(self) -> Counter[tuple[str, str]]:
        total: Counter[tuple[str, str]] = Counter()
        for client in list(self._clients.values()):
            total.update(client.stats.requests)
        return total

    def rate_limits(self) -> dict[str, RateLimit]:
        seen: dict[str, RateLimit] = {}
        for client in list(self._clients.values()):
            seen.update(client.stats.rate_limits)
        return seen

    def throttled(self) -> tuple[int, float]:
        """(429 answers waited out, seconds waited for them and for pacing)."""
        clients = list(self._clients.values())
        count = sum(c.stats.throttled for c in clients)
        waited = sum(c.stats.waited_seconds for c in clients) + self.session.waited_seconds()
        return count, waited

    def close(self) -> None:
        self.session.close()
