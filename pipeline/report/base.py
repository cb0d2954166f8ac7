"""The reporter interface and the JSON document (the factory is in factory.py).

Several services report concurrently, so ``emit`` is serialised with a lock here.
"""

from __future__ import annotations

import threading
from typing import Any

from pipeline.core.events import Event, ServiceResult


class Reporter:
    """Base reporter: thread-safe ``emit`` plus one ``finish`` call at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.backend: dict[str, str] = {}

    def connected(self, backend: str, server: str) -> None:
        """Which backend the run reaches Argo CD through (``kubernetes`` or ``argocd-api``)."""
        with self._lock:
            self.backend = {"name": backend, "server": server}
            self.on_connected()

    def on_connected(self) -> None:
        """Render the backend (called under the lock)."""

    def emit(self, event: Event) -> None:
        with self._lock:
            self.handle(event)

    def handle(self, event: Event) -> None:
        """Render one event (called under the lock)."""

    def fix(self, plan: dict[str, Any]) -> None:
        """Render the run's fix plan (deploy/fixplan.py), before ``finish``."""

    def finish(
        self, results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None
    ) -> None:
        """Render the final results (``requests``: counts by method, for the JSON report)."""


RequestCounts = dict[str, dict[str, int]]


def document(
    results: list[ServiceResult],
    exit_code: int,
    dry_run: bool = False,
    requests: RequestCounts | None = None,
    fix: dict[str, Any] | None = None,
    backend: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ``--output json`` document (docs/json-schema.md, schema_version 1)."""
    failed = [r for r in results if r.result == "failed"]
    return {
        "schema_version": 1,
        "result": "planned" if dry_run and not failed else ("failed" if failed else "succeeded"),
        "exit_code": exit_code,
        "services": [r.as_dict() for r in results],
        "requests": requests or {"registry": {}, "kubernetes": {}},
        **({"backend": backend} if backend else {}),
        **({"fix": fix} if fix else {}),
    }
