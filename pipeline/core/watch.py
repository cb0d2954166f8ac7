"""Wait on Kubernetes objects the way client-go's reflector does: list, then watch, never poll.

Every wait of the pipeline goes through :class:`ListWatch` (sync following in core/sync.py,
refresh ``--wait``, cleanup's rollout wait, deploy verify's informers):

1. list (or get one object) and remember the resourceVersion the answer carries;
2. watch from that resourceVersion, applying each event to the state (the object itself, or
   the dict of objects by name for a list);
3. on 410 Expired (``Expired`` from the port, or an ``ERROR`` event with code 410) list again;
   when the server ends a watch (``timeoutSeconds``, a cut connection), watch again from the
   last resourceVersion seen, BOOKMARK events included (reference E.3);
4. after the list and after every change, ask ``condition(state)``: ``True`` ends the wait
   with the state, ``False`` keeps watching, a returned ``PipelineError`` is raised;
5. at ``deadline`` on the injected clock, raise ``on_timeout(state)``.

Only ports are used (core/ports.py ``Applications`` and ``Cluster``), never a client library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pipeline.core.ports import Applications, Cluster, Expired, Obj, WatchStream
from pipeline.errors import KubeAccessError, PipelineError

Clock = Callable[[], float]
Objects = dict[str, Obj]
S = TypeVar("S")
Condition = Callable[[S], bool | PipelineError]
"""Over the current state: True = done, False = keep watching, an error = fail with it."""
_WATCH_HINT = "check that the API server is reachable and healthy"


class Source(Protocol[S]):
    """What is watched: how to read it whole, how to watch it, how an event changes it."""

    def list(self) -> tuple[S, str]:
        """The current state and the resourceVersion to watch from."""
        ...

    def watch(self, resource_version: str, timeout: float) -> WatchStream: ...

    def apply(self, state: S, kind: str, obj: Obj) -> S:
        """The state after one ADDED/MODIFIED/DELETED event (a new value; never mutate)."""
        ...


def resource_version(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


@dataclass
class ApplicationSource:
    """One Argo CD Application; ``initial`` (e.g. the object a patch returned) saves the first
    read. A DELETED event leaves the state as it was: the deadline reports it."""

    apps: Applications
    namespace: str
    name: str
    initial: Obj | None = None

    def list(self) -> tuple[Obj, str]:
        app, self.initial = self.initial, None
        if app is None:
            app = self.apps.get_application(self.namespace, self.name)
        return app, resource_version(app)

    def watch(self, resource_version: str, timeout: float) -> WatchStream:
        return self.apps.watch_application(self.namespace, self.name, resource_version, timeout)

    def apply(self, state: Obj, kind: str, obj: Obj) -> Obj:
        return obj if kind in ("ADDED", "MODIFIED") else state


@dataclass
class ObjectsSource:
    """Workload objects of one kind (deployments, replicasets, pods) in a namespace, by name."""

    cluster: Cluster
    kind: str
    namespace: str
    selector: str = ""

    def list(self) -> tuple[Objects, str]:
        items, version = self.cluster.list_objects(self.kind, self.namespace, self.selector)
        return {o["metadata"]["name"]: o for o in items}, version

    def watch(self, resource_version: str, timeout: float) -> WatchStream:
        return self.cluster.watch(
            self.kind, self.namespace, self.selector, resource_version, timeout
        )

    def apply(self, state: Objects, kind: str, obj: Obj) -> Objects:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            return {k: v for k, v in state.items() if k != name}
        return {**state, name: obj}


@dataclass
class ListWatch(Generic[S]):
    """One list+watch loop over ``source``; ``stop()`` from another thread ends ``until``."""

    source: Source[S]
    clock: Clock
    lists: int = 0  # how many times the source was listed (the first list, then one per 410)
    watches: int = 0
    _stream: WatchStream | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            stream = self._stream
        if stream is not None:
            stream.stop()

    def _list(self) -> tuple[S, str]:
        self.lists += 1
        return self.source.list()

    def until(
        self,
        condition: Condition[S],
        *,
        deadline: float,
        on_timeout: Callable[[S], PipelineError],
    ) -> S:
        """The state once ``condition`` holds (or when stopped); raises what it returns, or
        ``on_timeout(state)`` at the deadline. Port errors other than Expired propagate."""
        state, version = self._list()
        changed = True
        while not self._stopped:
            if changed and _decide(condition(state)):
                return state
            changed = False
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise on_timeout(state)
            stream = self.source.watch(version, remaining)
            with self._lock:
                if self._stopped:
                    break
                self._stream = stream
            self.watches += 1
            events = iter(stream)
            try:
                for kind, obj in _checked(events):
                    version = resource_version(obj) or version
                    if kind == "BOOKMARK":
                        continue
                    state = self.source.apply(state, kind, obj)
                    if _decide(condition(state)):
                        stream.stop()
                        return state
                    if self.clock() >= deadline:
                        raise on_timeout(state)
            except Expired:
                state, version = self._list()
                changed = True
            finally:
                with self._lock:
                    self._stream = None
                close = getattr(events, "close", None)
                if close is not None:
                    close()
        return state


def _decide(verdict: bool | PipelineError) -> bool:
    if isinstance(verdict, PipelineError):
        raise verdict
    return verdict


def _checked(events: Iterator[tuple[str, Obj]]) -> Iterator[tuple[str, Obj]]:
    """Events with an ``ERROR`` one raised: code 410 as Expired (the adapters already raise)."""
    for kind, obj in events:
        if kind == "ERROR":
            message = str(obj.get("message") or "watch ERROR event")
            if obj.get("code") == 410:
                raise Expired(message)
            raise KubeAccessError(f"the watch failed: {message}", hint=_WATCH_HINT)
        yield kind, obj


def wait_for(
    source: Source[S],
    condition: Condition[S],
    *,
    deadline: float,
    clock: Clock,
    on_timeout: Callable[[S], PipelineError],
) -> S:
    """``ListWatch(source, clock).until(...)`` for a wait nobody stops from outside."""
    return ListWatch(source, clock).until(condition, deadline=deadline, on_timeout=on_timeout)
