"""List and watch request handling: selectors, resourceVersion rules, limit/continue.

Rules from reference E.3 (``api-concepts.md``, the apiserver cacher): a list carries the
store's current resourceVersion; ``limit`` pages with an opaque ``continue`` token; a watch
from unset/``0`` starts with synthetic ``ADDED`` events, from ``N`` replays only later changes,
from an expired ``N`` answers 200 + one ERROR event (410 Expired); an unparsable RV is 400.
``sendInitialEvents=true`` ends the initial events with a BOOKMARK annotated
``k8s.io/initial-events-end: "true"`` (the WatchList protocol).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.messages import Request, Response, WatchStream
from pipeline.sandbox.apiserver.routing import Route
from pipeline.sandbox.apiserver.selectors import field_matcher, label_matcher
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tables import table_for
from pipeline.sandbox.apiserver.watchers import Matcher

Obj = dict[str, Any]
DEFAULT_WATCH_TIMEOUT = 1800.0  # --min-request-timeout default


def parse_rv(value: str | None) -> int | None:
    """None for unset or ``0`` (any version), else the integer; 400 when unparsable."""
    if value in (None, "", "0"):
        return None
    try:
        rv = int(str(value))
    except ValueError as e:
        raise st.bad_request(f'invalid resource version "{value}"') from e
    if rv < 0:
        raise st.bad_request(f'invalid resource version "{value}"')
    return rv


def _matcher(route: Route, req: Request, single: str | None = None) -> Matcher:
    labels = label_matcher(req.param("labelSelector"))
    selector = req.param("fieldSelector") or ""
    if single is not None:
        selector = ",".join(p for p in (selector, f"metadata.name={single}") if p)
    fields = field_matcher(route.rt, selector)
    return lambda obj: labels(obj) and fields(obj)


def _encode_continue(rv: int, offset: int) -> str:
    raw = json.dumps({"v": "sandbox/v1", "rv": rv, "start": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["start"])
    except (ValueError, KeyError, TypeError) as e:
        raise st.bad_request(f"continue key is not valid: {e}") from e


def list_object(store: Store, route: Route, req: Request) -> Obj:
    """The ``<Kind>List`` for a collection GET."""
    parse_rv(req.param("resourceVersion"))
    items, rv = store.list_objects(route.rt, route.namespace, _matcher(route, req))
    meta: Obj = {"resourceVersion": str(rv)}
    start = _decode_continue(req.param("continue") or "") if req.param("continue") else 0
    limit = req.integer("limit")
    items = items[start:]
    if limit and limit > 0 and len(items) > limit:
        meta["continue"] = _encode_continue(rv, start + limit)
        meta["remainingItemCount"] = len(items) - limit
        items = items[:limit]
    return {
        "kind": f"{route.rt.kind}List",
        "apiVersion": route.rt.api_version,
        "metadata": meta,
        "items": [route.rt.view(obj) for obj in items],
    }


def include_object(req: Request) -> str:
    """``includeObject`` of a Table request (metav1.IncludeObjectPolicy): what each row carries,
    ``Metadata`` by default; kubectl asks for ``Object`` to sort by any field (``--sort-by``)."""
    value = req.param("includeObject") or "Metadata"
    if value not in ("None", "Metadata", "Object"):
        raise st.bad_request(f'invalid includeObject value "{value}"')  # TableOptions validation
    return value


def list_response(
    store: Store, route: Route, req: Request, table: bool, single: Obj | None = None
) -> Response:
    if single is not None:
        listing: Obj = {"metadata": {"resourceVersion": single["metadata"]["resourceVersion"]}}
        listing["items"] = [route.rt.view(single)]
    else:
        listing = list_object(store, route, req)
    if table:
        return Response.json(200, table_for(route.rt, listing, include_object(req)))
    return Response.json(200, listing)


def watch_stream(
    store: Store, route: Route, req: Request, single: str | None = None
) -> WatchStream:
    since = parse_rv(req.param("resourceVersion"))
    timeout = req.integer("timeoutSeconds")
    bookmarks = req.flag("allowWatchBookmarks")
    matcher = _matcher(route, req, single)
    send_initial = req.param("sendInitialEvents")
    initial_end = send_initial is not None and req.flag("sendInitialEvents")
    if send_initial is not None and not initial_end and since is None:
        since = store.rv  # sendInitialEvents=false: only changes from now on
    if initial_end:
        since = None
    seconds = float(timeout) if timeout and timeout > 0 else DEFAULT_WATCH_TIMEOUT
    try:
        watcher, initial = store.watch(route.rt, route.namespace, matcher, since)
    except st.ApiStatusError as e:
        return WatchStream(route.rt, None, [], 0, False, error=e.to_status())
    return WatchStream(
        route.rt, watcher, initial, seconds, bookmarks or initial_end, initial_end,
        include_object=include_object(req),
    )  # fmt: skip
