"""Per-key exponential backoff, like client-go ``util/flowcontrol/backoff.go``.

The kubelet uses one for crash loops (``kuberuntime_manager.go`` ``doBackOff``: in back-off
while ``now - finishedAt < backoff``) and one for image pulls (``images/image_manager.go``:
in back-off while ``now - lastFailure < backoff``). ``next`` starts at ``base``, doubles up to
``cap``, and starts over when the key was quiet for more than ``2 * cap``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    def __init__(
        self, base: float, cap: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.base = base
        self.cap = cap
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> float:
        with self._lock:
            entry = self._entries.get(key)
            return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float) -> float:
        """Record a failure at ``event_time``; return the new backoff."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or event_time - entry.last_update > 2 * self.cap:
                entry = _Entry(self.base, event_time)
            else:
                entry = _Entry(min(entry.backoff * 2, self.cap), event_time)
            self._entries[key] = entry
            return entry.backoff

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """``IsInBackOffSince``: still waiting out the backoff counted from ``event_time``."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and self.clock() - event_time < entry.backoff

    def in_backoff_since_update(self, key: str, event_time: float) -> bool:
        """``IsInBackOffSinceUpdate``: ``event_time`` is within backoff of the last failure."""
        with self._lock:
            entry = self._entries.get(key)
            return entry is not None and event_time - entry.last_update < entry.backoff

    def remaining(self, key: str, since: float) -> float:
        """Seconds until the backoff counted from ``since`` is over (0 when it is)."""
        with self._lock:
            entry = self._entries.get(key)
            return max(since + entry.backoff - self.clock(), 0.0) if entry else 0.0

    def remaining_since_update(self, key: str) -> float:
        """Seconds until the backoff counted from the last failure is over."""
        with self._lock:
            entry = self._entries.get(key)
            return max(entry.last_update + entry.backoff - self.clock(), 0.0) if entry else 0.0

    def forget(self, prefix: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]
