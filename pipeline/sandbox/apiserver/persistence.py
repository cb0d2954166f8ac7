"""Snapshot the store to ``state_file`` atomically (temp file + rename), debounced.

A write marks the store dirty; a background thread saves at most every ``interval`` seconds,
and :meth:`Snapshotter.stop` saves once more. A reload restores objects, the resourceVersion
counter and pod logs, but not watch history: watches from older versions get 410 Expired,
as after an apiserver restart whose watch cache is empty.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from pipeline.sandbox.apiserver.store import Store

SAVE_INTERVAL = 1.0


class Snapshotter:
    def __init__(self, store: Store, path: Path, interval: float = SAVE_INTERVAL) -> None:
        self.store = store
        self.path = Path(path)
        self.interval = interval
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        if self.path.exists():
            self.store.load(json.loads(self.path.read_text()))

    def start(self) -> None:
        self.store.on_commit = self._dirty.set
        self._thread = threading.Thread(target=self._run, name="apiserver-snapshot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.is_set():
                return
            self._dirty.clear()
            self.save()
            self._stopping.wait(self.interval)

    def save(self) -> None:
        data = json.dumps(self.store.snapshot(), separators=(",", ":"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".apiserver-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.store.on_commit = None
        self.save()
