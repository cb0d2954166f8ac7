"""Watch streams fed from the store's write path, and the per-resource event history.

Semantics follow the apiserver cacher (``staging/src/k8s.io/apiserver/pkg/storage/cacher``):
a watcher with a selector sees ``ADDED`` when an object starts matching, ``DELETED`` when it
stops matching and ``MODIFIED`` while it keeps matching. History is a bounded window per
resource; a watch from a resourceVersion older than the window is "too old" (410 Expired).
"""

from __future__ import annotations

import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]


@dataclass(frozen=True)
class Change:
    """One committed write: ``obj`` is the new (or, for DELETED, the last) state."""

    type: str
    obj: Obj
    old: Obj | None
    rv: int


class Watcher:
    """One open watch. The store calls :meth:`offer` under its lock; the HTTP thread reads
    :meth:`next` (blocking with a timeout). ``None`` from :meth:`next` means "closed"."""

    def __init__(self, namespace: str | None, matches: Matcher) -> None:
        self.namespace = namespace
        self._matches = matches
        self._queue: queue.SimpleQueue[tuple[str, Obj] | None] = queue.SimpleQueue()
        self.closed = False

    def _visible(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace and obj.get("metadata", {}).get("namespace") != self.namespace:
            return False
        return self._matches(obj)

    def translate(self, change: Change) -> tuple[str, Obj] | None:
        """The event this watcher sees for ``change`` (selector transitions included)."""
        now = self._visible(change.obj)
        if change.type == "DELETED":
            return ("DELETED", change.obj) if now else None
        before = self._visible(change.old)
        if now and before:
            return ("MODIFIED", change.obj)
        if now:
            return ("ADDED", change.obj)
        if before:
            return ("DELETED", change.obj)
        return None

    def offer(self, change: Change) -> None:
        event = self.translate(change)
        if event is not None and not self.closed:
            self._queue.put(event)

    def push(self, event: tuple[str, Obj]) -> None:
        self._queue.put(event)

    def close(self) -> None:
        self.closed = True
        self._queue.put(None)

    def next(self, timeout: float) -> tuple[str, Obj] | bool | None:
        """An event, ``None`` when closed, or ``False`` when ``timeout`` passed."""
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return False


class History:
    """The changes of one resource type still watchable from their resourceVersion: the last
    ``limit`` ones, and (with ``window``) only those younger than ``window`` seconds, as a
    real API server forgets what etcd compacted (kube-apiserver ``--etcd-compaction-interval``,
    5 minutes by default): a watch from an older resourceVersion gets 410 Expired."""

    def __init__(
        self,
        limit: int,
        start: int = 0,
        window: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._changes: deque[tuple[float, Change]] = deque()
        self._limit = limit
        self._window = window
        self._clock = clock
        self.start = start  # every change with rv > start is kept

    def append(self, change: Change) -> None:
        self._changes.append((self._clock(), change))
        self.prune()

    def prune(self) -> None:
        """Forget what is past the count or older than the window."""
        oldest = self._clock() - self._window if self._window is not None else None
        while self._changes and (
            len(self._changes) > self._limit
            or (oldest is not None and self._changes[0][0] < oldest)
        ):
            self.start = self._changes.popleft()[1].rv

    def since(self, rv: int) -> list[Change]:
        return [c for _, c in self._changes if c.rv > rv]
