"""Keep the daemon's child processes (registry, dockerd) running and report on them.

A thread checks every child each ``interval`` seconds: it is down when its process exited or
its health check failed ``FAILURES`` times in a row. A down child is stopped (if needed) and
started again with the same port and data directory; restarts back off exponentially (1 s
up to 30 s) while starting fails. Every change is reported through ``on_change`` with
:meth:`Children.report` (``{"registry": {"pid": 1234, "restarts": 1, "healthy": true}}``),
which the daemon writes into status.json for ``pipeline sandbox status``.

Children are started from the supervising thread too; their PR_SET_PDEATHSIG fires when that
thread ends, which happens only when the daemon stops (or dies) anyway.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.errors import SandboxError

log = logging.getLogger(__name__)
FAILURES = 3  # consecutive failed health checks that count as down
MAX_BACKOFF = 30.0


class Handle(Protocol):
    """What a start function returns: a Registry or a DockerEngine."""

    proc: subprocess.Popen[bytes] | None

    def stop(self) -> None: ...


@dataclass
class Child:
    name: str
    start: Callable[[], Handle]
    healthy: Callable[[Handle], bool]
    handle: Handle
    restarts: int = 0
    failures: int = 0
    up: bool = True
    last_restart: str | None = None
    last_error: str | None = None
    backoff: float = 1.0
    next_try: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        proc = self.handle.proc
        entry: dict[str, Any] = {
            "pid": proc.pid if proc is not None and self.up else None,
            "healthy": self.up,
            "restarts": self.restarts,
        }
        if self.last_restart:
            entry["last_restart"] = self.last_restart
        if self.last_error:
            entry["last_error"] = self.last_error
        return entry


class Children:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.children: list[Child] = []
        self.on_change: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._clock = 0.0

    def add(
        self,
        name: str,
        handle: Handle,
        start: Callable[[], Handle],
        healthy: Callable[[Handle], bool],
    ) -> None:
        with self._lock:
            self.children.append(Child(name, start, healthy, handle))

    def report(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {child.name: child.report() for child in self.children}

    def run(self, stop: threading.Event) -> None:
        """Check until ``stop``; this thread must outlive the children it restarted (their
        PR_SET_PDEATHSIG follows it), so no error ends it early."""
        while not stop.wait(self.interval):
            try:
                self.check_all()
            except Exception:
                log.exception("checking the sandbox's child processes failed")

    def check_all(self) -> None:
        """One round of checks (and restarts); public so tests can drive it."""
        self._clock += self.interval
        changed = False
        for child in list(self.children):
            changed |= self._check(child)
        if changed and self.on_change is not None:
            self.on_change()

    def _check(self, child: Child) -> bool:
        proc = child.handle.proc
        exited = proc is not None and proc.poll() is not None
        if child.up and not exited:
            try:
                ok = child.healthy(child.handle)
            except Exception:  # a probe that fails counts as a failed check
                ok = False
            child.failures = 0 if ok else child.failures + 1
            if child.failures < FAILURES:
                return False
        went_down = child.up
        if went_down:
            why = f"exited with code {proc.returncode}" if exited and proc else "not answering"
            log.warning("%s %s: restarting it", child.name, why)
            child.up = False
            child.last_error = why
        if self._clock < child.next_try:  # backing off after a failed start
            return went_down
        self._restart(child)
        return True

    def _restart(self, child: Child) -> bool:
        try:
            child.handle.stop()
        except Exception:  # already gone: nothing to stop
            log.debug("stopping %s failed", child.name, exc_info=True)
        try:
            handle = child.start()
        except (SandboxError, OSError) as e:
            child.last_error = f"restart failed: {e}"
            child.next_try = self._clock + child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
            log.error("%s: %s", child.name, child.last_error)
            return False
        with self._lock:
            child.handle = handle
            child.restarts += 1
            child.failures = 0
            child.up = True
            child.backoff = 1.0
            child.last_restart = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.info("%s restarted (%d so far)", child.name, child.restarts)
        return True

    def stop_all(self) -> None:
        with self._lock:
            for child in reversed(self.children):
                try:
                    child.handle.stop()
                except Exception:
                    log.debug("stopping %s failed", child.name, exc_info=True)


def describe(children: dict[str, dict[str, Any]] | None) -> list[str]:
    """Lines for ``sandbox status``: ``registry: running (pid 12), restarted 1x``."""
    lines = []
    for name, entry in sorted((children or {}).items()):
        state = f"running (pid {entry.get('pid')})" if entry.get("healthy") else "down"
        text = f"{name}: {state}"
        if entry.get("restarts"):
            text += f", restarted {entry['restarts']}x"
        if not entry.get("healthy") and entry.get("last_error"):
            text += f" ({entry['last_error']})"
        lines.append(text)
    return lines
