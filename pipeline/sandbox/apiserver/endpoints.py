"""The REST verbs on a resolved route: get, list, watch, create, update, patch, delete.

Verb selection follows ``apiserver/pkg/endpoints/installer.go``: GET on a collection is list
(or watch with ``watch=true``), POST creates, PUT updates, PATCH patches, DELETE deletes (on a
collection: deletecollection). ``?watch`` on an item path becomes a watch with
``fieldSelector=metadata.name=<name>`` as in the real server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.decoding import check_finite, loads
from pipeline.sandbox.apiserver.listing import list_object, list_response, watch_stream
from pipeline.sandbox.apiserver.messages import Request, Response, WatchStream
from pipeline.sandbox.apiserver.operations import Operations
from pipeline.sandbox.apiserver.patch import decode_json_patch, json_patch, merge_patch
from pipeline.sandbox.apiserver.podlogs import read_log
from pipeline.sandbox.apiserver.protobuf import PROTOBUF, decode_protobuf
from pipeline.sandbox.apiserver.routing import Route
from pipeline.sandbox.apiserver.scale import handle_scale
from pipeline.sandbox.apiserver.serversideapply import (
    FIELD_MANAGER_MAX_LENGTH,
    decode_configuration,
    validate_patch_options,
)
from pipeline.sandbox.apiserver.strategic import strategic_merge
from pipeline.sandbox.apiserver.tables import wants_table
from pipeline.sandbox.apiserver.validation import apply_field_validation

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
JSONPATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = ("application/apply-patch+yaml", "application/apply-patch+cbor")
BODY_TYPES = ("application/json", "application/yaml", PROTOBUF)
# Objects whose DELETE answers the object itself (ReturnDeletedObject in their stores).
# kinds whose registry sets ReturnDeletedObject (pkg/registry/core/{pod,service,serviceaccount}/
# storage/storage.go) or whose REST returns the object (namespace): DELETE answers the object
_RETURNS_DELETED = ("Pod", "Namespace", "Service", "ServiceAccount")


def decode_body(req: Request, kind: str) -> Obj:
    """The request body as a dict: JSON, YAML or (for a few kinds) protobuf; else 415."""
    ctype = req.content_type or "application/json"
    if ctype == PROTOBUF:
        return decode_protobuf(req.body, kind)
    if ctype not in BODY_TYPES:
        raise st.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(BODY_TYPES)}"
        )
    try:
        if ctype == "application/yaml":
            obj = yaml.safe_load(req.body)
            check_finite(obj)
        else:
            obj = loads(req.body)
    except (ValueError, yaml.YAMLError) as e:
        raise st.bad_request(f"couldn't get version/kind; json parse error: {e}") from e
    if not isinstance(obj, dict):
        raise st.bad_request(
            f"couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{type(obj).__name__} into Go value of type struct"
        )
    return obj


def _warnings(messages: list[str]) -> list[tuple[str, str]]:
    """RFC 7234 warning headers, as the apiserver's ``warning.AddWarning`` sends them."""
    return [("Warning", '299 - "' + m.replace('"', '\\"') + '"') for m in messages]


def field_manager(req: Request, apply: bool = False) -> str:
    """``fieldManager``, else what precedes the first ``/`` of the User-Agent, printable
    characters only, cut at 128 (``handlers/rest.go`` ``managerOrUserAgent``)."""
    manager = req.param("fieldManager")
    validate_patch_options(apply, manager, req.param("force"))
    if manager:
        return manager
    agent = req.headers.get("user-agent", "").split("/")[0]
    return "".join(c for c in agent if c.isprintable())[:FIELD_MANAGER_MAX_LENGTH]


def _dry_run(req: Request) -> bool:
    """``dryRun=All`` runs the request without storing; other values are 400 as upstream."""
    value = req.param("dryRun")
    if value in (None, ""):
        return False
    if value != "All":
        raise st.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return True


class Endpoints:
    def __init__(self, ops: Operations) -> None:
        self.ops = ops
        self.store = ops.store

    def handle(self, req: Request, route: Route) -> Response | WatchStream:
        m = req.method
        if route.subresource == "log":
            if m != "GET":
                raise st.method_not_allowed()
            return read_log(self.store, route, req)
        if route.subresource == "scale":
            return handle_scale(self.ops, route, req)
        if route.name is None:
            if m == "GET":
                if req.flag("watch") or route.watch_prefix:
                    return watch_stream(self.store, route, req)
                return list_response(self.store, route, req, table=wants_table(req))
            if m == "POST":
                return self._create(req, route)
            if m == "DELETE":
                return self._delete_collection(req, route)
            raise st.method_not_allowed()
        if m == "GET":
            if req.flag("watch") or route.watch_prefix:
                return watch_stream(self.store, route, req, single=route.name)
            obj = self.store.get(route.rt, route.store_namespace, route.name)
            if wants_table(req) and route.subresource is None:
                return list_response(self.store, route, req, table=True, single=obj)
            return Response.json(200, route.rt.view(obj))
        if m == "PUT":
            return self._update(req, route)
        if m == "PATCH":
            return self._patch(req, route)
        if m == "DELETE" and route.subresource is None:
            return self._delete(req, route)
        raise st.method_not_allowed()

    def _create(self, req: Request, route: Route) -> Response:
        body = decode_body(req, route.rt.kind)
        warnings = apply_field_validation(route.rt, body, req.param("fieldValidation"))
        manager = field_manager(req)
        obj = self.ops.create(route.rt, route.store_namespace, body, _dry_run(req), manager)
        return Response.json(201, route.rt.view(obj), _warnings(warnings))

    def _update(self, req: Request, route: Route) -> Response:
        assert route.name is not None
        body = decode_body(req, route.rt.kind)
        warnings = apply_field_validation(route.rt, body, req.param("fieldValidation"))
        manager = field_manager(req)
        obj = self.ops.update(
            route.rt,
            route.store_namespace,
            route.name,
            body,
            route.subresource,
            _dry_run(req),
            manager,
        )
        return Response.json(200, route.rt.view(obj), _warnings(warnings))

    def _patcher(self, req: Request, route: Route) -> Callable[[Obj], Any]:
        ctype = req.content_type
        builtin = route.rt.builtin
        if ctype == JSONPATCH:
            ops = decode_json_patch(req.body)
            return lambda current: json_patch(current, ops)
        if ctype in (MERGE, STRATEGIC) and (builtin or ctype == MERGE):
            try:
                patch = loads(req.body)
            except ValueError as e:
                raise st.bad_request(f"error decoding patch: {e}") from e
            if ctype == STRATEGIC:
                return lambda current: strategic_merge(current, patch, route.rt.kind)
            if not isinstance(patch, dict):
                raise st.bad_request(
                    "error decoding patch: json: cannot unmarshal array into Go value of type "
                    "map[string]interface {}"
                )
            return lambda current: merge_patch(current, patch)
        # the exact 415 text real servers send for SMP on a custom resource (reference E.1)
        accepted = [JSONPATCH, MERGE, APPLY[0]] + ([STRATEGIC] if builtin else [])
        raise st.unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted)
        )

    def _apply(self, req: Request, route: Route) -> Response:
        assert route.name is not None
        manager = field_manager(req, apply=True)
        config = decode_configuration(route.rt, req.body)
        warnings = apply_field_validation(route.rt, config, req.param("fieldValidation"))
        obj, created = self.ops.apply(
            route.rt,
            route.store_namespace,
            route.name,
            config,
            manager,
            req.flag("force"),
            route.subresource,
            _dry_run(req),
        )
        return Response.json(201 if created else 200, route.rt.view(obj), _warnings(warnings))

    def _patch(self, req: Request, route: Route) -> Response:
        assert route.name is not None
        if req.content_type == APPLY[0]:
            return self._apply(req, route)
        manager = field_manager(req)
        patcher = self._patcher(req, route)
        warnings: list[str] = []

        def change(current: Obj) -> Obj:
            patched = patcher(current)
            if isinstance(patched, dict):
                warnings.extend(
                    apply_field_validation(route.rt, patched, req.param("fieldValidation"))
                )
            return patched  # type: ignore[no-any-return]

        obj = self.ops.write(
            route.rt,
            route.store_namespace,
            route.name,
            change,
            route.subresource,
            _dry_run(req),
            manager,
        )
        return Response.json(200, route.rt.view(obj), _warnings(warnings))

    def _delete_options(self, req: Request) -> Obj:
        options: Obj = {}
        if req.body.strip():
            try:
                options = loads(req.body)
            except ValueError as e:
                raise st.bad_request(f"error decoding DeleteOptions: {e}") from e
            if not isinstance(options, dict):
                raise st.bad_request("DeleteOptions must be a JSON object")
        if req.param("propagationPolicy"):
            options["propagationPolicy"] = req.param("propagationPolicy")
        if req.param("gracePeriodSeconds"):
            options["gracePeriodSeconds"] = req.param("gracePeriodSeconds")
        return options

    def _delete(self, req: Request, route: Route) -> Response:
        assert route.name is not None
        options = self._delete_options(req)
        if _dry_run(req) or options.get("dryRun") == ["All"]:  # kubectl puts it in the body
            current = self.store.get(route.rt, route.store_namespace, route.name)
            return Response.json(200, route.rt.view(current))
        obj = self.ops.lifecycle.delete(route.rt, route.store_namespace, route.name, options)
        gone = self.store.find(route.rt, route.store_namespace, route.name) is None
        if route.rt.builtin and route.rt.kind not in _RETURNS_DELETED and gone:
            return Response.json(
                200, st.success_status(route.rt, route.name, obj["metadata"]["uid"])
            )
        return Response.json(200, route.rt.view(obj))

    def _delete_collection(self, req: Request, route: Route) -> Response:
        if "deletecollection" not in route.rt.verbs:
            raise st.method_not_allowed()
        listing = list_object(self.store, route, req)
        options = self._delete_options(req)
        deleted = []
        for item in listing["items"]:
            meta = item["metadata"]
            try:
                deleted.append(
                    self.ops.lifecycle.delete(
                        route.rt, meta.get("namespace", ""), meta["name"], options
                    )
                )
            except st.ApiStatusError as e:
                if e.code != 404:
                    raise
        listing["items"] = [route.rt.view(obj) for obj in deleted]
        return Response.json(200, listing)
