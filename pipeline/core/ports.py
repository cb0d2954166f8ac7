"""Every port the core talks through, with the values that cross it.

Adapters implement them: ``adapters/kube.py`` (workloads, pods, access reviews) and
``adapters/argocd.py`` (Applications through the Kubernetes API) with the official
``kubernetes`` client, or both through the Argo CD API server (``adapters/argocd_api*.py``),
``adapters/registry.py`` (digests), ``adapters/builder*.py`` (builds,
port in ``core/build.py``), ``adapters/credentials.py`` and ``adapters/pullsecrets.py``
(credentials), ``adapters/kustomize.py`` (rendering). Kubernetes objects are plain dicts in the
API's JSON shape (camelCase), exactly as the API server sends them.

The exceptions a port raises (``NotFound``, ``Conflict``, ``Expired``) live in
``pipeline/errors.py`` with every other error and are re-exported here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pipeline.core.build import Builder
from pipeline.core.credentials import CredentialLookup, Credentials
from pipeline.core.images import INDEX_TYPES, ImageRef
from pipeline.core.imageupdater.credrefs import CredentialRef
from pipeline.errors import Conflict, Expired, NotFound

Obj = dict[str, Any]

__all__ = [
    "AccessGaps",
    "AccessReview",
    "Applications",
    "Cluster",
    "Conflict",
    "CredentialLookup",
    "Credentials",
    "Dependencies",
    "DigestReader",
    "Expired",
    "ManifestInfo",
    "NotFound",
    "Obj",
    "RateLimit",
    "Registries",
    "RegistryReader",
    "Render",
    "Sources",
    "WatchStream",
]


@dataclass(frozen=True)
class ManifestInfo:
    """What one manifest HEAD told: the digest the registry stored, its media type and size."""

    digest: str
    media_type: str
    size: int

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


class DigestReader(Protocol):
    """The registry, as the source of truth for a tag's digest."""

    def head_digest(self, ref: ImageRef) -> ManifestInfo:
        """Raises ManifestNotFound, RegistryError, RateLimitedError."""
        ...

    def confirm_digest(self, ref: ImageRef, pushed: str) -> ManifestInfo:
        """``head_digest`` that raises TagMovedError when the tag no longer points at ``pushed``."""
        ...


@dataclass(frozen=True)
class RateLimit:
    """Docker Hub's quota as last reported: requests allowed and left per window."""

    limit: int | None
    remaining: int | None
    window_seconds: int | None
    source: str | None = None


class Sources(Protocol):
    """An Application's git source as Argo CD's repo-server sees it (adapters/sources.py)."""

    def render(self, source: Obj) -> list[Obj]:
        """Like ``Render``."""
        ...

    def workspace(self, source: Obj) -> Path:
        """A writable copy of the whole repository at the source's commit; the caller removes
        it. Raises SourceUnavailable."""
        ...

    def render_in(self, root: Path, source: Obj) -> list[Obj]:
        """``source`` (its path and ``kustomize`` options) rendered inside a workspace."""
        ...


class RegistryReader(DigestReader, Protocol):
    """What ``poll`` asks a registry beyond digests: tags and image configs."""

    def list_tags(self, ref: ImageRef) -> list[str]: ...

    def get_image_config(self, ref: ImageRef, platform: str = "linux/amd64") -> dict[str, Any]: ...


class Registries(Protocol):
    """One registry reader per credential reference, sharing one paced HTTP session."""

    def client(self, ref: CredentialRef | None) -> RegistryReader: ...

    def requests(self) -> Counter[tuple[str, str]]:
        """Requests sent so far, by (method, kind)."""
        ...

    def rate_limits(self) -> dict[str, RateLimit]: ...

    def throttled(self) -> tuple[int, float]:
        """(429 answers waited out, seconds waited for them and for pacing)."""
        ...

    def close(self) -> None: ...


Render = Callable[[Obj], list[Obj]]
"""The manifests Argo CD's repo-server would render for an Application's ``spec.source`` at its
``targetRevision`` (adapters/sources.py); raises SourceUnavailable when that cannot be done
here, KustomizeError when kustomize refuses the source."""


class WatchStream(Protocol):
    """An open watch; iterate for ``(type, object)`` pairs, ``stop()`` from any thread."""

    def __iter__(self) -> Iterator[tuple[str, Obj]]: ...

    def stop(self) -> None: ...


class Applications(Protocol):
    """Argo CD Applications and ApplicationSets (through the Kubernetes API, adapters/argocd.py,
    or the Argo CD API, adapters/argocd_api.py)."""

    def get_application(self, namespace: str, name: str) -> Obj:
        """Raises NotFound."""
        ...

    def patch_application(self, namespace: str, name: str, body: Obj) -> Obj:
        """JSON merge patch; raises Conflict when ``metadata.resourceVersion`` is stale."""
        ...

    def start_sync(self, namespace: str, name: str, resource_version: str, operation: Obj) -> Obj:
        """Start ``operation`` (the CR's ``.operation`` shape) on the Application as read at
        ``resource_version``; raises Conflict when it changed or another operation runs."""
        ...

    def terminate_operation(self, namespace: str, name: str, resource_version: str) -> None:
        """Ask Argo CD to terminate the running operation (phase Terminating)."""
        ...

    def get_applicationset(self, namespace: str, name: str) -> Obj:
        """Raises NotFound."""
        ...

    def watch_application(
        self, namespace: str, name: str, resource_version: str, timeout: float
    ) -> WatchStream: ...


@dataclass(frozen=True)
class AccessGaps:
    """What this identity may not do of a deploy's calls, and how to grant it."""

    missing: list[str]
    fix: str
    reason: str = "kube-forbidden"


class AccessReview(Protocol):
    """Asked before any write: would every call of a deploy be allowed?"""

    def review(self, argocd_namespace: str, app: str, namespace: str) -> AccessGaps | None:
        """None when nothing is missing, or when the server cannot say."""
        ...


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


@dataclass
class Dependencies:
    """The outside world, built by the wiring layer (or by tests) and passed in."""

    applications: Applications
    cluster: Cluster
    registry: DigestReader
    builder: Callable[[], Builder] | None = None
    render: Render | None = None
    sources: Sources | None = None  # workspaces for a verified fix plan
    access: AccessReview | None = None  # None: Kubernetes access reviews through ``cluster``
    clock: Callable[[], float] = field(default=time.monotonic)
