"""Which registry requests one poll cycle needs: decided before any request, deduplicated.

Per alias the strategy says what it needs (pipeline/core/imageupdater/strategies.py
``registry_needs``): ``digest`` one manifest HEAD of the watched tag and nothing else;
``semver``/``alphabetical`` the tag list; ``newest-build`` the tag list, then one image config
per tag that passes ``allow-tags``/``ignore-tags`` (image-updater fetches metadata for every
tag it keeps, ``registry-scanner/pkg/registry/registry.go``). A tag strategy that decides to
update needs the chosen tag's digest: one HEAD more, only then.

A query is keyed by the normalised repository (``nginx`` and ``docker.io/library/nginx`` are
one), the tag, and the credential reference, so identical images across Applications are
fetched once per cycle; image-updater's cache keeps tag metadata but never digests (section 7),
so every cycle asks again for what can move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from pipeline.core.images import ImageRef, normalized_name
from pipeline.core.imageupdater.annotations import ImageConfig
from pipeline.core.imageupdater.credrefs import CredentialRef
from pipeline.core.imageupdater.strategies import Strategy, registry_needs
from pipeline.inspect.pins import Pin

HEAD, TAGS, CONFIG = "head", "tags", "config"
DEFAULT_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class Query:
    """One registry request (or, for ``config``, the manifest + blob reads behind it)."""

    kind: str  # HEAD | TAGS | CONFIG
    repository: ImageRef  # normalised, untagged
    tag: str | None = None
    credential: CredentialRef | None = None
    platform: str = ""

    def __str__(self) -> str:
        what = f"{self.repository.name}:{self.tag}" if self.tag else self.repository.name
        return f"{self.kind} {what}"


@dataclass(frozen=True)
class AliasTarget:
    """One alias of one Application, with what the Application pins for it now."""

    app: str  # "<namespace>/<name>"
    config: ImageConfig
    pin: Pin | None = None

    @property
    def repository(self) -> ImageRef:
        ref = self.config.image.registry_ref().untagged()
        return replace(ref, name=normalized_name(ref))

    def query(self, kind: str, tag: str | None = None) -> Query:
        platform = ""
        if kind == CONFIG:
            first = next((p for p in self.config.platforms if p.valid), None)
            platform = f"{first.os}/{first.arch}" if first else DEFAULT_PLATFORM
        return Query(kind, self.repository, tag, self.config.pull_secret, platform)


def first_round(targets: Iterable[AliasTarget]) -> set[Query]:
    """HEADs for ``digest`` aliases, tag lists for the others."""
    queries = set()
    for target in targets:
        needs = registry_needs(target.config.strategy, target.config.constraint)
        if needs.head_tag:
            queries.add(target.query(HEAD, needs.head_tag))
        if needs.tag_list:
            queries.add(target.query(TAGS))
    return queries


def metadata_round(targets: Iterable[AliasTarget], tag_lists: dict[Query, list[str]]) -> set[Query]:
    """Image configs for the tags ``newest-build`` aliases keep after their filters."""
    queries: set[Query] = set()
    for target in targets:
        if target.config.strategy is not Strategy.NEWEST_BUILD:
            continue
        tags = tag_lists.get(target.query(TAGS))
        if tags is None:
            continue
        keep = target.config.tag_filter
        queries.update(target.query(CONFIG, t) for t in tags if keep.keeps(t))
    return queries


def imageupdater_request_estimate(
    targets: Iterable[AliasTarget], tag_counts: dict[ImageRef, int]
) -> int:
    """Registry requests image-updater's model makes for the same aliases in one cycle.

    Its cache dedups tag metadata but not digests or tag lists (section 7): every alias of
    every Application costs its own requests. ``digest``: one manifest GET (a pull on Docker
    Hub) per alias; ``semver``/``alphabetical``: one tag list per alias; ``newest-build``: one
    tag list per alias plus, on a cold cache, a manifest GET and a config blob GET per tag of
    each distinct repository (the metadata cache is shared).
    """
    total, warmed = 0, set()
    for target in targets:
        strategy = target.config.strategy
        if strategy is Strategy.DIGEST:
            total += 1
            continue
        total += 1
        if strategy is Strategy.NEWEST_BUILD and target.repository not in warmed:
            warmed.add(target.repository)
            total += 2 * tag_counts.get(target.repository, 0)
    return total
