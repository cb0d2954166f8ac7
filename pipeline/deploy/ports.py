"""The two small ports the deploy core talks through; adapters/kube.py and adapters/argocd.py
implement them with the official ``kubernetes`` client. Objects are plain dicts in the API's
JSON shape (camelCase), exactly as the API server sends them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

Obj = dict[str, Any]


class Conflict(Exception):
    """HTTP 409: the resourceVersion precondition failed; re-read and retry."""


class Expired(Exception):
    """HTTP 410 Gone on a watch: the resourceVersion is too old; re-list and watch again."""


class NotFound(Exception):
    """HTTP 404 for an object the caller may legitimately expect to be missing."""


class WatchStream(Protocol):
    """An open watch; iterate for ``(type, object)`` pairs, ``stop()`` from any thread."""

    def __iter__(self) -> Iterator[tuple[str, Obj]]: ...

    def stop(self) -> None: ...


class Applications(Protocol):
    """Argo CD Applications and ApplicationSets through the Kubernetes API."""

    def get_application(self, namespace: str, name: str) -> Obj:
        """Raises NotFound."""
        ...

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        """JSON merge patch; raises Conflict when ``metadata.resourceVersion`` is stale."""
        ...

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        """Raises NotFound."""
        ...

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> WatchStream: ...


class Cluster(Protocol):
    """Workloads in the target namespace."""

    def list_objects(self, kind: str, namespace: str, selector: str = "") -> tuple[list[Obj], str]:
        """Objects of ``kind`` (deployments, replicasets, pods) and the list resourceVersion."""
        ...

    def watch(
        self, kind: str, namespace: str, selector: str, resource_version: str, timeout: float
    ) -> WatchStream: ...

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int) -> str: ...

    def pod_events(self, namespace: str, pod: str, limit: int) -> list[str]: ...

    def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
        """Would the API server allow it (SelfSubjectAccessReview); None when it cannot say."""
        ...
