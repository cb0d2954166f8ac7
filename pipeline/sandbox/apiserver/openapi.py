"""OpenAPI v3 documents: ``/openapi/v3`` (index) and one document per group-version.

kubectl (``k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go``) trusts server-side
field validation for a kind when the PATCH operation of a path carries
``x-kubernetes-group-version-kind`` for it and a ``fieldValidation`` query parameter; then
``kubectl create -f`` sends ``?fieldValidation=Strict`` and never asks for ``/openapi/v2``.
The core, apps and batch v1 kinds publish nested schemas (``openapischemas.py``), so
``kubectl explain deployment.spec.strategy`` works; other built-in schemas are minimal
(``type: object`` with the known top-level properties); kinds served by a CRD publish the
CRD's ``openAPIV3Schema``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.messages import Request, Response
from pipeline.sandbox.apiserver.openapischemas import kind_schemas, message_for
from pipeline.sandbox.apiserver.resources import Catalog, ResourceType

Obj = dict[str, Any]
_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    if rt.builtin:
        package = "core" if not rt.group else rt.group
        return f"io.k8s.api.{package}.{rt.version}.{rt.kind}"
    reversed_group = ".".join(reversed(rt.group.split(".")))
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _gvk(rt: ResourceType) -> list[Obj]:
    return [{"group": rt.group, "version": rt.version, "kind": rt.kind}]


def _operation(rt: ResourceType, verb: str, action: str) -> Obj:
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    op: Obj = {
        "operationId": f"{verb}{rt.kind}",
        "parameters": [
            {"name": q, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
            for q in _QUERY
        ],
        "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(rt)[0],
    }
    if action in ("patch",):
        types = ["application/json-patch+json", "application/merge-patch+json"]
        if rt.builtin:
            types.append("application/strategic-merge-patch+json")
        op["requestBody"] = {"content": {t: {"schema": {"type": "object"}} for t in types}}
    elif action in ("put", "post"):
        op["requestBody"] = {"content": {"application/json": {"schema": ref}}}
    return op


def _paths(rt: ResourceType) -> dict[str, Obj]:
    base = "/" + _gv_path(rt.group, rt.version)
    scope = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
    collection = f"{scope}/{rt.plural}"
    if not rt.stored:  # reviews: create only
        return {collection: {"post": _operation(rt, "create", "post")}}
    item = f"{collection}/{{name}}"
    paths = {
        collection: {
            "get": _operation(rt, "list", "list"),
            "post": _operation(rt, "create", "post"),
        },
        item: {
            "get": _operation(rt, "read", "get"),
            "put": _operation(rt, "replace", "put"),
            "patch": _operation(rt, "patch", "patch"),
            "delete": _operation(rt, "delete", "delete"),
        },
    }
    if "status" in rt.subresources:
        paths[f"{item}/status"] = {
            "get": _operation(rt, "readStatus", "get"),
            "put": _operation(rt, "replaceStatus", "put"),
            "patch": _operation(rt, "patchStatus", "patch"),
        }
    return paths


def _schema(rt: ResourceType) -> Obj:
    if rt.schema is not None:  # a kind served by a CRD: its own openAPIV3Schema
        schema: Obj = copy.deepcopy(rt.schema)
        props = schema.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = {"type": "object"}
        schema["x-kubernetes-group-version-kind"] = _gvk(rt)
        return schema
    props = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
    props["metadata"] = {"type": "object"}
    for field in rt.fields:
        props[field] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "type": "object",
        "properties": props,
        "x-kubernetes-group-version-kind": _gvk(rt),
    }


def _schemas(rt: ResourceType) -> dict[str, Obj]:
    message = message_for(rt.group, rt.version, rt.kind) if rt.builtin else None
    if message is None:
        return {_schema_name(rt): _schema(rt)}
    return kind_schemas(message, _gvk(rt), "status" in rt.fields)


def document(catalog: Catalog, group: str, version: str) -> Obj | None:
    rts = catalog.in_group_version(group, version)
    if not rts:
        return None
    paths: Obj = {}
    for rt in rts:
        paths.update(_paths(rt))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0-sandbox"},
        "paths": paths,
        "components": {"schemas": {k: v for rt in rts for k, v in _schemas(rt).items()}},
    }


def _hash(catalog: Catalog, group: str, version: str) -> str:
    body = json.dumps(document(catalog, group, version), sort_keys=True).encode()
    return hashlib.sha512(body).hexdigest()[:128].upper()


def index(catalog: Catalog) -> Obj:
    return {
        "paths": {
            _gv_path(g, v): {
                "serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}?hash={_hash(catalog, g, v)}"
            }
            for g, v in catalog.group_versions()
        }
    }


def serve(catalog: Catalog, rest: list[str], req: Request) -> Response:
    if not rest:
        return Response.json(200, index(catalog))
    if rest[0] == "api" and len(rest) == 2:
        doc = document(catalog, "", rest[1])
    elif rest[0] == "apis" and len(rest) == 3:
        doc = document(catalog, rest[1], rest[2])
    else:
        doc = None
    if doc is None:
        raise st.no_such_resource()
    return Response.json(200, doc)
