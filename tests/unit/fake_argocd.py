"""In-memory fakes of the deploy core's ports (pipeline/core/ports.py), with the semantics the
core relies on: merge patches with a resourceVersion precondition (409 -> Conflict), watches
that deliver the Application's later states, 404 -> NotFound, and a manual clock.

A test scripts what "the controller" does next with ``on_watch``: each time the core opens a
watch, the next scripted step runs and its resulting Application states are delivered.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.adapters.argocd import sync_patch, terminate_patch
from pipeline.core.ports import Conflict, Expired, NotFound
from pipeline.sandbox.apiserver.patch import merge_patch  # RFC 7386, as the server applies it

Obj = dict[str, Any]


class FakeStream:
    def __init__(self, events: list[tuple[str, Obj]], expire: bool = False) -> None:
        self.events, self.expire = events, expire

    def __iter__(self) -> Iterator[tuple[str, Obj]]:
        yield from self.events
        if self.expire:
            raise Expired("too old resource version")

    def stop(self) -> None:
        pass


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Step = Callable[["FakeApplications"], None]


class FakeApplications:
    """One Application (and optionally ApplicationSets) behind the Applications port."""

    def __init__(self, app: Obj | None, appsets: dict[str, Obj] | None = None) -> None:
        self.app = copy.deepcopy(app) if app is not None else None
        if self.app is not None:
            self.app["metadata"].setdefault("resourceVersion", "1")
        self.appsets = appsets or {}
        self.patches: list[Obj] = []
        self.conflicts = 0  # answer this many patches with 409 first
        self.on_watch: list[Step] = []
        self.expire_next_watch = False
        self.watches = 0
        self.gets = 0
        self.patch_attempts = 0  # patches answered with 409 included
        self.watched_from: list[str] = []  # the resourceVersion each watch started from

    def _bump(self) -> None:
        assert self.app is not None
        meta = self.app["metadata"]
        meta["resourceVersion"] = str(int(meta["resourceVersion"]) + 1)

    def controller_writes(self, patch: Obj) -> None:
        """A write by someone else (Argo CD, an ApplicationSet): new resourceVersion."""
        assert self.app is not None
        self.app = merge_patch(self.app, patch)
        self._bump()

    def _read(self, name: str) -> Obj:
        if self.app is None or self.app["metadata"]["name"] != name:
            raise NotFound(f"applications {name!r} not found")
        return copy.deepcopy(self.app)

    def get_application(self, namespace: str, name: str) -> Obj:
        self.gets += 1
        return self._read(name)

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        self.patch_attempts += 1
        current = self._read(name)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if self.conflicts:
            self.conflicts -= 1
            self._bump()
            raise Conflict("the object has been modified")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified")
        self.patches.append(copy.deepcopy(body))
        body = copy.deepcopy(body)
        body.get("metadata", {}).pop("resourceVersion", None)
        self.app = merge_patch(self.app, body)
        self._bump()
        return copy.deepcopy(self.app)

    def start_sync(self, namespace: str, name: str, resource_version: str, operation: Obj) -> Obj:
        return self.patch_application(namespace, name, sync_patch(resource_version, operation))

    def terminate_operation(self, namespace: str, name: str, resource_version: str) -> None:
        self.patch_application(namespace, name, terminate_patch(resource_version))

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        if name not in self.appsets:
            raise NotFound(name)
        return copy.deepcopy(self.appsets[name])

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> FakeStream:
        self.watches += 1
        self.watched_from.append(resource_version)
        if self.expire_next_watch:
            self.expire_next_watch = False
            return FakeStream([], expire=True)
        events: list[tuple[str, Obj]] = []
        if self.on_watch:
            self.on_watch.pop(0)(self)
            events.append(("MODIFIED", copy.deepcopy(self.app or {})))
        return FakeStream(events)


class FakeCluster:
    """Deployments in the canary namespace (preflight reads only those)."""

    def __init__(self, deployments: list[Obj], denied: frozenset[str] = frozenset()) -> None:
        self.deployments = deployments
        self.denied = denied  # "verb resource" pairs the fake authorizer refuses

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        assert kind == "deployments"
        return copy.deepcopy(self.deployments), "7"

    def watch(
        self, kind: str, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> FakeStream:
        return FakeStream([])

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str:
        return ""

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]:
        return []

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
        return f"{verb} {resource}" not in self.denied
