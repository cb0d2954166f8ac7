"""Durable state: an append-only journal fsynced before a write is answered, and a snapshot.

Every committed change (and every pod-log write) is appended to the journal under the store
lock, in commit order. Before the HTTP layer answers a mutating request it calls
``store.durable()``, which writes the pending records and ``fsync``s them; concurrent writers
share one ``fsync`` (group commit), as etcd acknowledges a write only after its WAL is synced
(``server/storage/wal``). So a write the client saw acknowledged survives ``kill -9``.

Every ``interval`` seconds (and on stop) the store is compacted into the snapshot: under the
store lock the current journal segment is synced and closed and a new one opened; the
snapshot, which covers every record up to that point (``journal`` holds the last sequence
number), is written atomically (temp file, ``fsync``, rename, ``fsync`` of the directory) and
the closed segments are deleted. A load reads the snapshot and replays the records after it,
from any segments left (a torn last line, from a crash mid-append, is ignored).

A reload restores objects, the resourceVersion counter and pod logs, but not watch history:
watches from older versions get 410 Expired, as after an apiserver restart.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.store import LogKey, Store
from pipeline.sandbox.apiserver.watchers import Change

log = logging.getLogger(__name__)
Obj = dict[str, Any]
SAVE_INTERVAL = 5.0  # seconds between compactions of the journal into the snapshot


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _object_key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta["name"]))


class Journal:
    """Segments ``<state_file>.journal.<n>``, one JSON record a line."""

    def __init__(self, state_file: Path) -> None:
        self.state_file = state_file
        self.seq = 0  # the last record's sequence number
        self._pending: list[bytes] = []
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # held while writing + fsyncing a batch
        self._file: IO[bytes] | None = None
        self._segment = 0
        self.syncs = 0

    @property
    def is_open(self) -> bool:
        return self._file is not None

    def segments(self) -> list[Path]:
        prefix = self.state_file.name + ".journal."
        found = [
            p for p in self.state_file.parent.glob(prefix + "*") if p.name[len(prefix) :].isdigit()
        ]
        return sorted(found, key=lambda p: int(p.name[len(prefix) :]))

    def records(self) -> list[Obj]:
        """Every record in the segments on disk, oldest first."""
        found: list[Obj] = []
        for segment in self.segments():
            for line in segment.read_bytes().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    log.warning("ignoring a torn journal record in %s", segment)
                    continue
                if isinstance(record, dict):
                    found.append(record)
        return found

    def open(self, seq: int) -> None:
        """Start appending after ``seq`` in a segment numbered past every existing one."""
        self.seq = seq
        existing = self.segments()
        self._segment = int(existing[-1].name.rsplit(".", 1)[1]) if existing else 0
        self._open_next()

    def _open_next(self) -> None:
        self._segment += 1
        path = self.state_file.with_name(f"{self.state_file.name}.journal.{self._segment}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115 - closed in rotate()/close()
        _fsync_dir(path.parent)

    # ---- called under the store lock, in commit order ---------------------------------
    def _append(self, record: Obj) -> None:
        self.seq += 1
        record["seq"] = self.seq
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        with self._pending_lock:
            self._pending.append(line)

    def record_change(self, _rt: ResourceType, change: Change) -> None:
        self._append({"rv": change.rv, "type": change.type, "object": change.obj})

    def record_log(self, key: LogKey, text: str, append: bool) -> None:
        self._append({"log": list(key), "text": text, "append": append})

    # ---- durability --------------------------------------------------------------------
    def sync(self) -> None:
        """Return once every record appended so far is on disk."""
        with self._flush_lock:
            with self._pending_lock:
                batch, self._pending = self._pending, []
            if not batch or self._file is None:
                return
            self._file.write(b"".join(batch))
            self._file.flush()
            os.fsync(self._file.fileno())
            self.syncs += 1

    def rotate(self) -> list[Path]:
        """Sync and close the current segment, open the next (caller holds the store lock);
        returns the closed segments, which a snapshot taken now makes redundant."""
        self.sync()
        with self._flush_lock:
            if self._file is not None:
                self._file.close()
            closed = self.segments()
            self._open_next()
        return closed

    def close(self) -> None:
        self.sync()
        with self._flush_lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def replay(data: Obj, records: list[Obj]) -> Obj:
    """The snapshot ``data`` with the journal records after it applied."""
    done = int(data.get("journal", 0))
    rv = int(data.get("resourceVersion", 0))
    objects = {}
    for obj in data.get("objects", []):
        try:
            objects[_object_key(obj)] = obj
        except (KeyError, TypeError, AttributeError):
            continue  # malformed: the store's load skips it too
    logs = {tuple(entry[:4]): entry[4] for entry in data.get("logs", [])}
    for record in records:
        if int(record.get("seq", 0)) <= done:
            continue
        if "log" in record:
            key = tuple(record["log"])
            text = str(record.get("text", ""))
            logs[key] = logs.get(key, "") + text if record.get("append") else text
            continue
        obj = record.get("object")
        if not isinstance(obj, dict):
            continue
        key = _object_key(obj)
        rv = max(rv, int(record.get("rv", 0)))
        if record.get("type") == "DELETED":
            objects.pop(key, None)
            if key[1] == "Pod":
                logs = {k: v for k, v in logs.items() if tuple(k[:2]) != key[2:]}
        else:
            objects[key] = obj
    return {
        "resourceVersion": rv,
        "objects": list(objects.values()),
        "logs": [[*key, text] for key, text in logs.items()],
    }


class Snapshotter:
    """The store's persistence: journal on every write, snapshot every ``interval``."""

    def __init__(self, store: Store, path: Path, interval: float = SAVE_INTERVAL) -> None:
        self.store = store
        self.path = Path(path)
        self.interval = interval
        self.journal = Journal(self.path)
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._save_lock = threading.Lock()

    def load(self) -> None:
        data: Obj = {}
        if self.path.exists():
            data = json.loads(self.path.read_text())
        records = self.journal.records()
        if data or records:
            self.store.load(replay(data, records))
        last = max([int(data.get("journal", 0))] + [int(r.get("seq", 0)) for r in records])
        self.journal.open(last)

    def start(self) -> None:
        """Journal every change from now on (call after :meth:`load`)."""
        with self.store.lock:
            self.store.observers.append(self.journal.record_change)
            self.store.on_log = self.journal.record_log
            self.store.on_commit = self._dirty.set
            self.store.durable = self.journal.sync
        self.journal.sync()  # anything written between load and start (bootstrap objects)
        self._thread = threading.Thread(target=self._run, name="apiserver-snapshot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._dirty.wait()
            if self._stopping.wait(self.interval):
                return
            self._dirty.clear()
            self.save()

    def save(self) -> None:
        """Compact: write the snapshot, then drop the journal segments it covers."""
        with self._save_lock:
            with self.store.lock:
                data = self.store.snapshot()
                data["journal"] = self.journal.seq
                closed = self.journal.rotate() if self.journal.is_open else []
            self._write(json.dumps(data, separators=(",", ":")))
            for segment in closed:
                segment.unlink(missing_ok=True)

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".apiserver-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self.store.lock:
            if self.journal.record_change in self.store.observers:
                self.store.observers.remove(self.journal.record_change)
            self.store.on_log = None
            self.store.on_commit = None
            self.store.durable = _nothing
        self.save()
        self.journal.close()
        for segment in self.journal.segments():  # all covered by the snapshot just saved
            segment.unlink(missing_ok=True)


def _nothing() -> None:
    return None
