"""What a build is asked for and what it returns; the ``Builder`` port adapters implement.

Labels follow the OCI image-spec annotation keys (``annotations.md``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeline.core.images import ImageRef

PR_LABEL = "io.github.pipeline.pull-request"


@dataclass(frozen=True)
class BuildRequest:
    """What to build and where to push it. ``image`` carries the primary tag."""

    context: Path
    image: ImageRef
    dockerfile: Path | None = None
    extra_tags: Sequence[str] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    build_args: Mapping[str, str] = field(default_factory=dict)
    platforms: Sequence[str] = ()
    cache_from: Sequence[str] = ()
    cache_to: str | None = None
    network: str = "host"

    def all_refs(self) -> list[ImageRef]:
        """The primary reference, then one per extra tag (same repository)."""
        return [self.image] + [self.image.with_tag(tag) for tag in self.extra_tags]


@dataclass(frozen=True)
class PushResult:
    digest: str  # the manifest (or index) digest the registry stored
    tags: tuple[str, ...]  # full references pushed, e.g. 127.0.0.1:5000/app:pr-7
    builder: str
    config_digest: str = ""  # the image config's digest (the engine's image ID), when known


@dataclass(frozen=True)
class BuiltImage:
    """A build that has not been pushed: nothing left this machine yet. ``image_id`` is the
    engine's image ID when the builder keeps one (the classic builder), else ""."""

    request: BuildRequest
    image_id: str = ""


class Builder(Protocol):
    """Build, then push: two steps, so a run can refuse (preflight) between them and leave the
    registry as it was."""

    name: str
    why: str

    def build(self, request: BuildRequest) -> BuiltImage: ...

    def push(self, built: BuiltImage) -> PushResult:
        """Push ``built`` under every tag of its request; raises TagMovedError when another
        build took one of those tags on the same engine meanwhile."""
        ...

    def build_and_push(self, request: BuildRequest) -> PushResult: ...


def oci_labels(
    revision: str,
    source: str,
    pr: int | str | None = None,
    *,
    created: datetime.datetime | None = None,
) -> dict[str, str]:
    """OCI annotation keys as image labels (opencontainers image-spec ``annotations.md``)."""
    when = created or datetime.datetime.now(datetime.UTC)
    labels = {
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if pr is not None and str(pr):
        labels[PR_LABEL] = str(pr)
    return labels
