"""core/v1 Events written by the sandbox controllers, like client-go's ``record`` package.

An event is named ``<object>.<hex>``; a repeat of the same reason and message on the same
object bumps ``count`` and ``lastTimestamp`` instead of creating a new one
(``events_cache.go``'s aggregation by key). Failures to record are ignored, as in client-go.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers.deploymentstatus import rfc3339
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient, resource_path

Obj = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"


class EventRecorder:
    def __init__(
        self,
        client: KubeClient,
        component: str,
        host: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._component = component
        self._host = host
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str, str], tuple[str, str, int]] = {}

    def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        meta = obj.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        key = (str(meta.get("uid", meta.get("name"))), reason, message)
        now = rfc3339(self._clock())
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None:
                self._seen[key] = (seen[0], seen[1], seen[2] + 1)
        try:
            if seen is not None:
                ns, name, count = seen
                self._client.patch(
                    resource_path("v1", "events", ns, name),
                    {"count": count + 1, "lastTimestamp": now},
                    MERGE_PATCH,
                )
                return
            name = f"{meta.get('name')}.{uuid.uuid4().hex[:16]}"
            self._client.create(
                resource_path("v1", "events", namespace),
                self._new_event(obj, name, namespace, event_type, reason, message, now),
            )
            with self._lock:
                self._seen[key] = (namespace, name, 1)
        except (ApiError, OSError):
            return

    def _new_event(
        self,
        obj: Obj,
        name: str,
        namespace: str,
        event_type: str,
        reason: str,
        message: str,
        now: str,
    ) -> Obj:
        meta = obj.get("metadata", {})
        involved = {
            "kind": obj.get("kind"),
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": obj.get("apiVersion"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        source = {"component": self._component}
        if self._host:
            source["host"] = self._host
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {k: v for k, v in involved.items() if v is not None},
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": self._component,
            "reportingInstance": self._host,
        }
