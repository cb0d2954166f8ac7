"""A de-duplicating work queue with delayed adds, like client-go's ``workqueue``.

A key added while queued is not queued twice; ``add_after`` keeps the earliest due time.
Workers block in ``get`` on a condition variable (no polling) until a key is due or the
queue shuts down.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Sequence

from pipeline.sandbox.kubeclient import Handler, KubeClient, list_and_watch


class WorkQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._closed = False

    def add(self, key: str) -> None:
        self.add_after(key, 0.0)

    def add_after(self, key: str, delay: float) -> None:
        when = self._clock() + max(delay, 0.0)
        with self._cond:
            current = self._due.get(key)
            if current is not None and current <= when:
                return
            self._due[key] = when
            heapq.heappush(self._heap, (when, key))
            self._cond.notify()

    def get(self) -> str | None:
        """The next due key, or None once ``shutdown`` was called."""
        with self._cond:
            while not self._closed:
                while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
                    heapq.heappop(self._heap)  # superseded entry
                if self._heap:
                    when, key = self._heap[0]
                    wait = when - self._clock()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        del self._due[key]
                        return key
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


Informer = tuple[str, Handler]


def run_controller(
    name: str,
    client: KubeClient,
    informers: Sequence[Informer],
    work: Callable[[], None],
    queue: WorkQueue,
    stop: threading.Event,
) -> None:
    """The shape every sandbox controller shares (client-go's informers + workqueue): one
    list-and-watch thread per resource feeding ``queue``, one worker draining it; blocks until
    ``stop`` is set, then shuts the queue and waits for the worker to finish its item."""
    threads = [
        threading.Thread(
            target=list_and_watch,
            args=(client, path, handler, stop),
            name=f"{name}-informer-{path}",
            daemon=True,
        )
        for path, handler in informers
    ]
    worker = threading.Thread(target=work, name=name, daemon=True)
    for thread in [*threads, worker]:
        thread.start()
    stop.wait()
    queue.shutdown()
    worker.join(timeout=30)
    # the informers hand nothing on once ``stop`` is set and end with their current watch
    # (at most its 5 s timeout): waiting for them would only slow every shutdown down
