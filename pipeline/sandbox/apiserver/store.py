"""The object store: one lock, a global resourceVersion counter, history and watchers.

Stored objects are never mutated after commit (every write builds a new dict), so readers
may serialise them without copying. Every effective write bumps the global counter (the etcd
revision), is appended to its resource's history and is pushed to open watchers before the
lock is released, so watch delivery needs no polling.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.objectmeta import now_rfc3339, same_object
from pipeline.sandbox.apiserver.resources import RESOURCES, Catalog, ResourceType
from pipeline.sandbox.apiserver.watchers import Change, History, Matcher, Watcher

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped
LogKey = tuple[str, str, str, bool]  # (namespace, pod, container, previous)
HISTORY_LIMIT = 1000
HISTORY_WINDOW = 300.0  # seconds: kube-apiserver's default --etcd-compaction-interval (5m)


def _finalizers(obj: Obj) -> list[Any]:
    """Finalizers that block removal (a Namespace also waits for ``spec.finalizers``)."""
    found = list(obj["metadata"].get("finalizers") or [])
    if obj.get("kind") == "Namespace":
        found += obj.get("spec", {}).get("finalizers") or []
    return found


def _nothing() -> None:
    return None


def _loadable(meta: Any) -> bool:
    return (
        isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
        and bool(meta["name"])
        and isinstance(meta.get("namespace", ""), str)
    )


class Store:
    def __init__(
        self,
        history_limit: int = HISTORY_LIMIT,
        history_window: float | None = HISTORY_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock = threading.RLock()
        self.rv = 0
        self._history_limit = history_limit
        self._history_window = history_window
        self._clock = clock
        self._objects: dict[ResourceType, dict[Key, Obj]] = {rt: {} for rt in RESOURCES}
        self._history: dict[ResourceType, History] = {
            rt: History(history_limit, 0, history_window, clock) for rt in RESOURCES
        }
        self._watchers: dict[ResourceType, set[Watcher]] = {rt: set() for rt in RESOURCES}
        # the kinds served: built-ins plus those CustomResourceDefinitions add
        self.catalog = Catalog()
        self.logs: dict[LogKey, str] = {}
        self.closed = False
        self.on_commit: Callable[[], None] | None = None
        # persistence: every log write (under the lock), and "make every write so far
        # durable", called before a mutating request is answered
        self.on_log: Callable[[LogKey, str, bool], None] | None = None
        self.durable: Callable[[], None] = _nothing
        self.on_remove: Callable[[ResourceType, Obj], None] | None = None
        self.on_load_definitions: Callable[[list[Obj]], None] | None = None
        # called for every committed change, under the lock (CRDs serve their kinds)
        self.observers: list[Callable[[ResourceType, Change], None]] = []

    # ---- kinds served by CRDs ----------------------------------------------------------
    def add_kind(self, rt: ResourceType) -> None:
        """Make room for a custom kind (caller holds the lock); its history starts now, so a
        watch from an older resourceVersion is 410 Expired."""
        self._objects.setdefault(rt, {})
        self._history.setdefault(
            rt, History(self._history_limit, self.rv, self._history_window, self._clock)
        )
        self._watchers.setdefault(rt, set())

    def drop_kind(self, rt: ResourceType) -> None:
        """Forget a custom kind that is no longer served (caller holds the lock): its open
        watches end, as they do when a CRD goes."""
        self._objects.pop(rt, None)
        self._history.pop(rt, None)
        for watcher in self._watchers.pop(rt, set()):
            watcher.close()

    def objects_of(self, rt: ResourceType) -> list[Obj]:
        with self.lock:
            return list(self._objects.get(rt, {}).values())

    # ---- reads -------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self._objects.get(rt, {}).get((namespace, name))
        if obj is None:
            raise st.not_found(rt, name)
        return obj

    def find(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        with self.lock:
            return self._objects.get(rt, {}).get((namespace, name))

    def list_objects(
        self, rt: ResourceType, namespace: str | None, matches: Matcher
    ) -> tuple[list[Obj], int]:
        with self.lock:
            items = [
                obj
                for (ns, _), obj in sorted(self._objects.get(rt, {}).items())
                if (not namespace or ns == namespace) and matches(obj)
            ]
            return items, self.rv

    def all_objects(self) -> Iterator[tuple[ResourceType, Obj]]:
        with self.lock:
            snapshot = [(rt, obj) for rt, objs in self._objects.items() for obj in objs.values()]
        yield from snapshot

    # ---- writes ------------------------------------------------------------------------
    def commit(self, rt: ResourceType, old: Obj | None, new: Obj) -> Obj:
        """Store ``new`` (caller holds the lock and has prepared metadata). No-op writes
        return ``old`` untouched; a deleting object whose finalizers are gone is removed."""
        if old is not None and same_object(old, new):
            return old
        meta = new["metadata"]
        if rt not in self._objects:  # its CRD went away meanwhile
            raise st.not_found(rt, meta["name"])
        key = (meta.get("namespace", ""), meta["name"])
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        if (  # a pod in its deletion grace period stays until deleted with period 0
            old is not None
            and meta.get("deletionTimestamp")
            and not meta.get("deletionGracePeriodSeconds")
            and not _finalizers(new)
        ):
            del self._objects[rt][key]
            self._publish(rt, Change("DELETED", new, old, self.rv))
            self._removed(rt, new)
            return new
        self._objects[rt][key] = new
        self._publish(rt, Change("MODIFIED" if old is not None else "ADDED", new, old, self.rv))
        return new

    def remove(self, rt: ResourceType, obj: Obj) -> Obj:
        """Delete ``obj`` now (caller holds the lock); DELETED carries the last state."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        self._objects[rt].pop(key, None)
        self.rv += 1
        last = {**obj, "metadata": {**meta, "resourceVersion": str(self.rv)}}
        self._publish(rt, Change("DELETED", last, obj, self.rv))
        self._removed(rt, last)
        return last

    def write_log(self, key: LogKey, text: str, append: bool) -> None:
        """Replace (or append to) a container's log."""
        with self.lock:
            self.logs[key] = self.logs.get(key, "") + text if append else text
            if self.on_log is not None:
                self.on_log(key, text, append)
            if self.on_commit is not None:
                self.on_commit()

    def _removed(self, rt: ResourceType, obj: Obj) -> None:
        if rt.kind == "Pod":
            ns, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            for key in [k for k in self.logs if k[:2] == (ns, name)]:
                del self.logs[key]
        if self.on_remove is not None:
            self.on_remove(rt, obj)

    def _publish(self, rt: ResourceType, change: Change) -> None:
        self._history[rt].append(change)
        for watcher in self._watchers[rt]:
            watcher.offer(change)
        for observe in self.observers:
            observe(rt, change)
        if self.on_commit is not None:
            self.on_commit()

    def mark_deleting(self, rt: ResourceType, obj: Obj) -> Obj:
        """Set deletionTimestamp (objects with finalizers wait for them to be cleared)."""
        if obj["metadata"].get("deletionTimestamp"):
            return obj
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        if "generation" in new["metadata"]:
            new["metadata"]["generation"] += 1
        return self.commit(rt, obj, new)

    # ---- watch -------------------------------------------------------------------------
    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Matcher,
        since: int | None,
    ) -> tuple[Watcher, list[tuple[str, Obj]]]:
        """Open a watcher. ``since=None`` gives synthetic ADDED events for what exists now;
        otherwise replays history after ``since`` or raises 410 Expired."""
        watcher = Watcher(namespace, matches)
        with self.lock:
            if rt not in self._history:  # its CRD went away meanwhile
                raise st.no_such_resource()
            if since is None:
                items, _ = self.list_objects(rt, namespace, matches)
                initial = [("ADDED", obj) for obj in items]
            else:
                history = self._history[rt]
                history.prune()
                if since < history.start:
                    raise st.expired(since, history.start)
                initial = []
                for change in history.since(since):
                    event = watcher.translate(change)
                    if event is not None:
                        initial.append(event)
            if self.closed:
                watcher.close()
            else:
                self._watchers[rt].add(watcher)
        return watcher, initial

    def unwatch(self, rt: ResourceType, watcher: Watcher) -> None:
        with self.lock:
            self._watchers.get(rt, set()).discard(watcher)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            for watchers in self._watchers.values():
                for watcher in watchers:
                    watcher.close()
                watchers.clear()

    # ---- persistence -------------------------------------------------------------------
    def snapshot(self) -> Obj:
        with self.lock:
            return {
                "resourceVersion": self.rv,
                "objects": [obj for _, obj in self.all_objects()],
                "logs": [[*key, text] for key, text in self.logs.items()],
            }

    def load(self, data: Obj) -> None:
        """Restore a snapshot; history restarts empty, so older RVs are expired."""
        with self.lock:
            self.rv = int(data.get("resourceVersion", 0))
            objects = data.get("objects", [])
            crds = [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
            if crds and self.on_load_definitions is not None:
                self.on_load_definitions(crds)  # serve their kinds before loading their objects
            for obj in objects:
                group = str(obj.get("apiVersion", "")).rpartition("/")[0]
                rt = self.catalog.by_group_kind(group, obj.get("kind", ""))
                meta = obj.get("metadata")
                if rt is None or not _loadable(meta):
                    continue  # e.g. written before names were type-checked: never served
                self.add_kind(rt)
                self._objects[rt][(meta.get("namespace", ""), meta["name"])] = obj
            for ns, pod, container, previous, text in data.get("logs", []):
                self.logs[(ns, pod, container, bool(previous))] = text
            self._history = {rt: History(self._history_limit, self.rv) for rt in self._objects}
