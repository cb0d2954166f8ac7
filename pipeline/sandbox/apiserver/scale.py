"""The ``/scale`` subresource of Deployments and ReplicaSets (``autoscaling/v1`` Scale).

``pkg/registry/apps/deployment/storage/storage.go`` ScaleREST: GET answers a Scale built from
the object (``spec.replicas``, ``status.replicas``, ``status.selector`` as a label-selector
string); PUT/PATCH change only ``spec.replicas`` of the underlying object. A resourceVersion
in the Scale body is a precondition (409 on mismatch).
"""

from __future__ import annotations

import copy
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.decoding import loads
from pipeline.sandbox.apiserver.messages import Request, Response
from pipeline.sandbox.apiserver.operations import Operations
from pipeline.sandbox.apiserver.patch import decode_json_patch, json_patch, merge_patch
from pipeline.sandbox.apiserver.routing import Route

Obj = dict[str, Any]


def _selector(obj: Obj) -> str:
    labels = obj.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def to_scale(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in meta
        },
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": _selector(obj),
        },
    }


def _new_scale(req: Request, current: Obj) -> Obj:
    try:
        if req.method == "PUT":
            body = loads(req.body)
        elif req.content_type == "application/json-patch+json":
            body = json_patch(current, decode_json_patch(req.body))
        else:
            body = merge_patch(current, loads(req.body))
    except ValueError as e:
        raise st.bad_request(f"error decoding Scale: {e}") from e
    if not isinstance(body, dict) or not isinstance(body.get("spec", {}), dict):
        raise st.bad_request("the body of a Scale request must be a Scale object")
    return body


def handle_scale(ops: Operations, route: Route, req: Request) -> Response:
    assert route.name is not None
    namespace = route.store_namespace
    if req.method == "GET":
        return Response.json(200, to_scale(ops.store.get(route.rt, namespace, route.name)))
    if req.method not in ("PUT", "PATCH"):
        raise st.method_not_allowed()

    def change(current: Obj) -> Obj:
        scale = _new_scale(req, to_scale(current))
        wanted_rv = scale.get("metadata", {}).get("resourceVersion")
        if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
            raise st.conflict(route.rt, route.name or "")
        replicas = scale.get("spec", {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise st.invalid(
                route.rt,
                route.name or "",
                [
                    (
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas
        new["metadata"].pop("resourceVersion", None)
        return new

    updated = ops.write(route.rt, namespace, route.name, change)
    return Response.json(200, to_scale(updated))
