"""Container logs, published to the sandbox API server so ``kubectl logs`` works.

Real kubelets serve logs themselves; the sandbox kubelet instead writes them to the API server's
sandbox-only endpoint ``/sandbox/v1/namespaces/{ns}/pods/{name}/log?container=c`` (``PUT``
replaces, ``POST`` appends, ``previous=true`` addresses the last terminated instance). A follower
thread per running container appends what the runtime streams, in batches at most every
``flush_interval`` seconds; when a container is replaced, its complete log becomes ``previous``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from pipeline.sandbox.controllers.containers import Runtime
from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]
_MAX_LOG = 1 << 20


class _Follower:
    def __init__(self, publisher: LogPublisher, pod: Obj, container: str, runtime_id: str) -> None:
        self._publisher = publisher
        self._pod = pod
        self._container = container
        self._runtime_id = runtime_id
        self._buffer: list[bytes] = []
        self._lock = threading.Lock()
        self._last_flush = 0.0
        self._timer: threading.Timer | None = None
        self.thread = threading.Thread(target=self._run, name=f"logs-{container}", daemon=True)

    def _run(self) -> None:
        for chunk in self._publisher.runtime.follow_logs(self._runtime_id):
            with self._lock:
                self._buffer.append(chunk)
                due = self._last_flush + self._publisher.flush_interval - time.monotonic()
                if due > 0:
                    if self._timer is None:
                        self._timer = threading.Timer(due, self._flush)
                        self._timer.daemon = True
                        self._timer.start()
                    continue
            self._flush()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._timer = None
            self._last_flush = time.monotonic()
        if data:
            self._publisher.send("POST", self._pod, self._container, data.decode(errors="replace"))


class LogPublisher:
    def __init__(self, client: KubeClient, runtime: Runtime, flush_interval: float = 0.2) -> None:
        self.client = client
        self.runtime = runtime
        self.flush_interval = flush_interval
        self._followers: dict[str, _Follower] = {}
        self._lock = threading.Lock()

    def send(
        self, method: str, pod: Obj, container: str, text: str, *, previous: bool = False
    ) -> None:
        meta = pod["metadata"]
        path = f"/sandbox/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log"
        params = {"container": container}
        if previous:
            params["previous"] = "true"
        try:
            self.client.request(
                method, path, body=text[-_MAX_LOG:], params=params, content_type="text/plain"
            )
        except (requests.RequestException, ApiError):
            return

    def follow(self, pod: Obj, container: str, runtime_id: str) -> None:
        """Start a fresh current log for a new instance and keep appending to it."""
        self.send("PUT", pod, container, "")
        follower = _Follower(self, pod, container, runtime_id)
        with self._lock:
            self._followers[runtime_id] = follower
        follower.thread.start()

    def finish(self, runtime_id: str, timeout: float = 5.0) -> None:
        """Wait until the follower of an exited instance has published everything."""
        with self._lock:
            follower = self._followers.pop(runtime_id, None)
        if follower is not None:
            follower.thread.join(timeout)

    def publish_previous(self, pod: Obj, container: str, runtime_id: str) -> None:
        self.finish(runtime_id)
        self.send("PUT", pod, container, self.runtime.logs(runtime_id), previous=True)
