"""``pods/{name}/log``: serve the text the sandbox kubelet stored.

Reading follows ``pkg/registry/core/pod/rest/log.go`` and ``pod/strategy.go`` LogLocation:
with several containers and no ``container`` parameter the answer is 400 "a container name
must be specified for pod X, choose one of: [a b]"; an unknown container is 400
"container c is not valid for pod X"; ``tailLines`` keeps the last lines; ``previous=true``
reads the previous instance's log.

Writing is sandbox-only (real kubelets serve logs themselves): the kubelet sends
``PUT /sandbox/v1/namespaces/{ns}/pods/{name}/log?container=c[&previous=true]`` with a
``text/plain`` body to replace the stored text, or ``POST`` to append.
"""

from __future__ import annotations

from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.messages import Request, Response
from pipeline.sandbox.apiserver.resources import find
from pipeline.sandbox.apiserver.routing import Route
from pipeline.sandbox.apiserver.store import Store

Obj = dict[str, Any]
PODS = find("", "v1", "pods")
assert PODS is not None


def _container(pod: Obj, requested: str | None) -> str:
    name = pod["metadata"]["name"]
    spec = pod.get("spec", {})
    containers = [str(c.get("name", "")) for c in spec.get("containers") or []]
    init = [str(c.get("name", "")) for c in spec.get("initContainers") or []]
    if not requested:
        if len(containers) == 1:
            return containers[0]
        message = (
            f"a container name must be specified for pod {name}, choose one of: "
            f"[{' '.join(containers)}]"
        )
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        raise st.bad_request(message)
    if requested not in containers + init:
        raise st.bad_request(f"container {requested} is not valid for pod {name}")
    return requested


def _waiting_reason(pod: Obj, container: str) -> str | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == container:
            waiting = (status.get("state") or {}).get("waiting")
            if waiting and not status.get("lastState", {}).get("terminated"):
                return str(waiting.get("reason") or "ContainerCreating")
            return None
    return "ContainerCreating"


def read_log(store: Store, route: Route, req: Request) -> Response:
    assert route.name is not None
    pod = store.get(route.rt, route.store_namespace, route.name)
    container = _container(pod, req.param("container"))
    previous = req.flag("previous")
    key = (route.store_namespace, route.name, container, previous)
    with store.lock:
        text = store.logs.get(key)
    if text is None:
        if previous:
            raise st.bad_request(
                f'previous terminated container "{container}" in pod "{route.name}" not found'
            )
        reason = _waiting_reason(pod, container)
        if reason is not None:
            raise st.bad_request(
                f'container "{container}" in pod "{route.name}" is waiting to start: {reason}'
            )
        text = ""
    tail = req.integer("tailLines")
    if tail is not None and tail >= 0:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail else ""
    return Response(200, text.encode(), content_type="text/plain")


def write_log(store: Store, req: Request, namespace: str, name: str) -> Response:
    """The sandbox-only write endpoint used by the kubelet."""
    pod = store.get(PODS, namespace, name)  # type: ignore[arg-type]
    container = _container(pod, req.param("container"))
    key = (namespace, name, container, req.flag("previous"))
    text = req.body.decode("utf-8", errors="replace")
    store.write_log(key, text, append=req.method == "POST")
    return Response.json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
