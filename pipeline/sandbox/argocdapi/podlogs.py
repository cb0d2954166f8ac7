"""ApplicationService ``PodLogs``: the logs of the pods in an app's resource tree, streamed.

The pods are those of the tree that match the request (``podName``, or ``kind``/``group``/
``resourceName``/``namespace``) or sit under a match (``getSelectedPods``); each log is read
from the Kubernetes API's ``pods/log``, filtered (``filter``, ``!`` inverts, ``matchCase``),
and followed when ``follow`` is set, until the client leaves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from pipeline.sandbox.argocdapi.applications import (
    Applications,
    Obj,
    Params,
    as_bool,
    as_int,
    rbac_name,
)
from pipeline.sandbox.argocdapi.session import Caller


class PodLogs:
    def __init__(self, apps: Applications) -> None:
        self.apps = apps

    def pod_logs(
        self, caller: Caller, name: str, params: Params, stop: threading.Event
    ) -> Iterator[Obj | None]:
        """``PodLogs``: every selected pod of the tree (the pod itself, or pods under the named
        resource), ``{"result": {content, timeStamp, timeStampStr, last, podName}}`` per line and
        a final ``last: true`` entry; ``follow`` keeps reading until the client leaves."""
        if params.get("podName"):
            params = dict(params, kind="Pod", resourceName=params["podName"])
        namespace = self.apps.namespace(params)
        app = self.apps.get_enforced(
            caller, "get", str(params.get("project") or ""), namespace, name
        )
        self.apps.enforce_err(caller, "logs", "get", rbac_name(app))
        tree = self.apps.tree(app)
        pods = _selected_pods(tree["nodes"], params)
        container = str(params.get("container") or "")
        previous = as_bool(params.get("previous"))
        tail = as_int(params.get("tailLines"))
        follow = as_bool(params.get("follow"))
        filter_text = str(params.get("filter") or "")
        match_case = as_bool(params.get("matchCase"))

        def keep(line: str) -> bool:
            if not filter_text:
                return True
            inverse = filter_text.startswith("!")
            literal = filter_text[1:] if inverse else filter_text
            hit = literal in line if match_case else literal.lower() in line.lower()
            return hit != inverse

        def entry(pod: str, line: str, last: bool) -> Obj:
            now = time.time()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            nanos = f"{now % 1:.9f}"[1:].rstrip("0").rstrip(".")
            return {
                "result": {
                    "content": line,
                    "timeStamp": stamp + "Z",
                    "last": last,
                    "timeStampStr": f"{stamp}{nanos}Z",
                    "podName": pod,
                }
            }

        def stream() -> Iterator[Obj | None]:
            if not pods:
                return
            seen: dict[str, int] = {}
            while True:
                for pod in pods:
                    lines = self._read_log(pod, container, previous).splitlines()
                    if pod["name"] not in seen:
                        start = max(len(lines) - tail, 0) if tail > 0 else 0
                    else:
                        start = seen[pod["name"]]
                        if start > len(lines):
                            start = 0  # a new log (the container restarted)
                    seen[pod["name"]] = len(lines)
                    for line in lines[start:]:
                        if keep(line):
                            yield entry(pod["name"], line, False)
                if not follow or stop.is_set():
                    break
                yield None
                if stop.wait(1.0):
                    break
            yield entry("", "", True)

        return stream()

    def _read_log(self, pod: Obj, container: str, previous: bool) -> str:
        params = {}
        if container:
            params["container"] = container
        if previous:
            params["previous"] = "true"
        kube = self.apps.kube
        url = f"{kube.base_url}/api/v1/namespaces/{pod['namespace']}/pods/{pod['name']}/log"
        resp = kube._session().get(url, params=params, timeout=30)
        if resp.status_code >= 400:
            try:
                return str(resp.json().get("message", resp.text))
            except ValueError:
                return resp.text
        return resp.text


def _selected_pods(nodes: list[Obj], params: Params) -> list[Obj]:
    """``getSelectedPods``/``isTheSelectedOne``: pods matching the query or under a match."""
    by_ref = {(n["group"], n["kind"], n["namespace"], n["name"]): n for n in nodes}

    def matches(node: Obj) -> bool:
        return all(
            not params.get(key) or node.get(field) == params.get(key)
            for key, field in (
                ("resourceName", "name"),
                ("kind", "kind"),
                ("group", "group"),
                ("namespace", "namespace"),
            )
        )

    def selected(node: Obj, depth: int = 0) -> bool:
        if matches(node):
            return True
        for parent in node.get("parentRefs") or []:
            key = (
                parent.get("group", ""),
                parent["kind"],
                parent.get("namespace", ""),
                parent["name"],
            )
            if key in by_ref and depth < 10 and selected(by_ref[key], depth + 1):
                return True
        return False

    return [
        n for n in nodes if n["kind"] == "Pod" and n["group"] == "" and n.get("uid") and selected(n)
    ]
