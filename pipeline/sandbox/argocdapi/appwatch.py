"""ApplicationService watch streams: ``Watch`` (app events) and ``WatchResourceTree``.

Both are server streams: iterators of ``{"result": ...}`` messages in which ``None`` means
"nothing to send now" (the HTTP layer flushes and checks that the client is still there);
they end when ``stop`` is set. ``Watch`` follows a Kubernetes watch of the Applications;
``WatchResourceTree`` rebuilds the tree every second and sends it when it changed, until the
app is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import requests

from pipeline.sandbox.argocdapi.applications import (
    NAMESPACE,
    STREAM_POLL,
    Applications,
    Obj,
    Params,
    apps_path,
    as_int,
    present,
    query_projects,
)
from pipeline.sandbox.argocdapi.errors import unknown
from pipeline.sandbox.argocdapi.session import Caller
from pipeline.sandbox.kubeclient import ApiError

TREE_POLL = 1.0


class ApplicationWatch:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def watch(self, caller: Caller, params: Params, stop: threading.Event) -> Iterator[Obj | None]:
        """``Watch``: ADDED for every permitted app first when ``name`` is given or no
        ``resourceVersion`` is; then live events with resourceVersion >= the given one. Nothing
        missed while disconnected is replayed (the real server subscribes to its informer)."""
        name = str(params.get("name") or "")
        namespace = self.apps.namespace(params)
        selector = str(params.get("selector") or "") or None
        projects = set(query_projects(params))
        min_rv = as_int(params.get("resourceVersion"))
        path = apps_path(NAMESPACE)
        try:
            listing = self.apps.kube.list(path, label_selector=selector)
        except ApiError as e:
            raise unknown(f"error parsing labels with selectors: {e}") from e

        def permitted(app: Obj) -> bool:
            if projects and ((app.get("spec") or {}).get("project") or "") not in projects:
                return False
            if as_int(app["metadata"].get("resourceVersion")) < min_rv:
                return False
            if name and (app["metadata"]["name"] != name or namespace != NAMESPACE):
                return False
            return self.apps.permitted(caller, app)

        def frame(kind: str, app: Obj) -> Obj:
            return {"result": {"type": kind, "application": present(app)}}

        first = []
        if not params.get("resourceVersion") or name:
            items = sorted(listing.get("items", []), key=lambda a: a["metadata"]["name"])
            first = [frame("ADDED", a) for a in items if permitted(a)]
        return self._watch_stream(
            first, path, listing["metadata"]["resourceVersion"], selector, permitted, frame, stop
        )

    def _watch_stream(
        self,
        first: list[Obj],
        path: str,
        rv: str,
        selector: str | None,
        permitted: Callable[[Obj], bool],
        frame: Callable[[str, Obj], Obj],
        stop: threading.Event,
    ) -> Iterator[Obj | None]:
        kube = self.apps.kube
        yield from first
        yield None  # headers and the initial frames go out now
        while not stop.is_set():
            try:
                for event in kube.watch(
                    path, rv, timeout_seconds=STREAM_POLL, label_selector=selector
                ):
                    if event["type"] == "ERROR":
                        listing = kube.list(path, label_selector=selector)
                        rv = listing["metadata"]["resourceVersion"]
                        for app in listing.get("items", []):
                            if permitted(app):
                                yield frame("MODIFIED", app)
                        break
                    obj = event["object"]
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED") and permitted(obj):
                        yield frame(event["type"], obj)
                    if stop.is_set():
                        return
            except (requests.RequestException, ApiError):
                stop.wait(0.5)
            yield None  # a chance to notice a client that went away

    def watch_tree(
        self, caller: Caller, name: str, params: Params, stop: threading.Event
    ) -> Iterator[Obj | None]:
        """``WatchResourceTree``: the tree now, then again whenever it changes."""
        namespace = self.apps.namespace(params)
        project = str(params.get("project") or "")
        self.apps.get_enforced(caller, "get", project, namespace, name)

        def stream() -> Iterator[Obj | None]:
            last: Obj | None = None
            while not stop.is_set():
                app = self.apps.kube.get_or_none(apps_path(namespace, name))
                if app is None:
                    return
                tree = self.apps.tree(app)
                if tree != last:
                    last = tree
                    yield {"result": tree}
                else:
                    yield None
                stop.wait(TREE_POLL)

        return stream()
