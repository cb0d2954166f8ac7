"""The four update strategies as pure decisions over registry data.

Semantics are image-updater's (``registry-scanner/pkg/image/version.go``
``GetNewestVersionFromTags``, ``pkg/tag/tag.go`` sorting, ``pkg/argocd/update.go``
``needsUpdate``; reference 1.4):

1. Drop tags that fail ``allow-tags`` or match ``ignore-tags``; for ``digest`` keep only the
   watched tag.
2. Sort ascending and take the last candidate. No candidate means "no update", not an error;
   the one error is an invalid semver constraint.

- ``semver``: tags that are not versions are skipped; an empty constraint means ``*`` (so
  pre-releases are excluded, v1.3.0 #1758); ties ordered by the tag string. The current tag need
  not be a version (v1.2.0 #1473).
- ``newest-build``: by the image config's ``created``, ties by tag name (so ``latest`` beats
  ``f33bacd`` for the same build); tags without a date (metadata failed, platform mismatch) drop.
- ``alphabetical``: byte order of the tag name.
- ``digest``: the watched tag is required; update when the current image has no digest or a
  different one.

Tag strategies update when the chosen tag differs from the current tag. A tag listed twice keeps
its last metadata (image-updater's tag list is a map by name).

:func:`registry_needs` says which registry data a strategy needs, so a poller fetches the
minimum: ``digest`` one manifest HEAD, ``semver``/``alphabetical`` the tag list only,
``newest-build`` the tag list plus a config per remaining tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pipeline.core.imageupdater.semver import parse_constraint, sort_versions
from pipeline.core.imageupdater.tagfilters import TagFilter
from pipeline.errors import UsageError


class Strategy(StrEnum):
    SEMVER = "semver"
    NEWEST_BUILD = "newest-build"
    ALPHABETICAL = "alphabetical"
    DIGEST = "digest"


# ``ParseUpdateStrategy``: the pre-v0.13 names, accepted with a deprecation warning.
LEGACY_STRATEGY_NAMES = {"latest": Strategy.NEWEST_BUILD, "name": Strategy.ALPHABETICAL}


def parse_strategy(text: str) -> tuple[Strategy, str]:
    """``(strategy, warning)``, case-insensitive. Unknown names raise UsageError: image-updater
    falls back to semver with a log line (#697); we refuse rather than guess."""
    value = text.strip().lower()
    if value in LEGACY_STRATEGY_NAMES:
        new = LEGACY_STRATEGY_NAMES[value]
        return new, f"update strategy {value!r} is deprecated, write {new.value!r}"
    try:
        return Strategy(value), ""
    except ValueError:
        names = ", ".join(s.value for s in Strategy)
        raise UsageError(
            f"unknown update strategy {text!r}",
            hint=f"use one of {names} (or the legacy 'latest', 'name')",
            reason="bad-annotation",
        ) from None


@dataclass(frozen=True)
class TagInfo:
    """What the registry said about one tag; ``digest``/``created`` only when fetched."""

    name: str
    digest: str | None = None
    created: datetime | None = None


@dataclass(frozen=True)
class Current:
    """What the Application runs now: its tag and digest, either may be unknown."""

    tag: str | None = None
    digest: str | None = None


@dataclass(frozen=True)
class Decision:
    update: bool
    strategy: Strategy
    tag: str | None = None
    digest: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class RegistryNeeds:
    """The registry requests a strategy needs for one image."""

    tag_list: bool  # GET /v2/<repo>/tags/list
    head_tag: str | None  # HEAD one manifest by this tag (digest strategy)
    created_per_tag: bool  # manifest + config per remaining tag (newest-build)


def registry_needs(strategy: Strategy, constraint: str) -> RegistryNeeds:
    if strategy is Strategy.DIGEST:
        return RegistryNeeds(tag_list=False, head_tag=constraint or None, created_per_tag=False)
    return RegistryNeeds(
        tag_list=True, head_tag=None, created_per_tag=strategy is Strategy.NEWEST_BUILD
    )


def require_constraint(strategy: Strategy, constraint: str) -> None:
    """Raise for a configuration image-updater rejects before looking at tags."""
    if strategy is Strategy.DIGEST and not constraint:
        raise UsageError(
            "cannot use update strategy 'digest' without a version constraint (the tag to watch)",
            hint="name the tag in image-list, e.g. 'canary=ghcr.io/org/app:main'",
            reason="bad-annotation",
        )
    if strategy is Strategy.SEMVER:
        parse_constraint(constraint or "*")


def _dedupe(candidates: Sequence[TagInfo]) -> dict[str, TagInfo]:
    return {c.name: c for c in candidates}


def _pick_tag(strategy: Strategy, tags: dict[str, TagInfo], constraint: str) -> TagInfo | None:
    if strategy is Strategy.SEMVER:
        constraints = parse_constraint(constraint or "*")
        ordered = [t for t, v in sort_versions(list(tags)) if constraints.check(v)]
        return tags[ordered[-1]] if ordered else None
    if strategy is Strategy.NEWEST_BUILD:
        dated = [t for t in tags.values() if t.created is not None]
        dated.sort(key=lambda t: (t.created, t.name.encode()))
        return dated[-1] if dated else None
    names = sorted(tags, key=str.encode)
    return tags[names[-1]] if names else None


def select(
    strategy: Strategy,
    current: Current,
    candidates: Sequence[TagInfo],
    constraint: str = "",
    tag_filter: TagFilter | None = None,
) -> Decision:
    """Choose the tag (and digest) to run, and whether that is an update."""
    require_constraint(strategy, constraint)
    tag_filter = tag_filter or TagFilter()
    if tag_filter.allow.problem:
        return Decision(False, strategy, reason=f"{tag_filter.allow.problem}: no tag is allowed")
    kept = _dedupe([c for c in candidates if tag_filter.keeps(c.name)])
    if strategy is Strategy.DIGEST:
        return _select_digest(current, kept.get(constraint), constraint)
    chosen = _pick_tag(strategy, kept, constraint)
    if chosen is None:
        why = f" matching {constraint!r}" if strategy is Strategy.SEMVER and constraint else ""
        return Decision(False, strategy, reason=f"no tag{why} among {len(kept)} candidate(s)")
    if chosen.name == current.tag:
        return Decision(
            False, strategy, chosen.name, chosen.digest, f"{chosen.name} is already current"
        )
    was = current.tag or "no tag"
    return Decision(
        True,
        strategy,
        chosen.name,
        chosen.digest,
        f"{chosen.name} is the {_label(strategy)} of {len(kept)} candidate(s) (was {was})",
    )


def _label(strategy: Strategy) -> str:
    return {
        Strategy.SEMVER: "highest version",
        Strategy.NEWEST_BUILD: "newest build",
        Strategy.ALPHABETICAL: "last name",
    }[strategy]


def _select_digest(current: Current, watched: TagInfo | None, tag: str) -> Decision:
    if watched is None:
        return Decision(False, Strategy.DIGEST, reason=f"tag {tag!r} is not in the registry")
    if watched.digest is None:
        raise ValueError(f"select(digest) needs the digest of the watched tag {tag!r}")
    if current.digest is not None and current.digest.lower() == watched.digest.lower():
        return Decision(False, Strategy.DIGEST, tag, watched.digest, f"{tag} digest unchanged")
    was = current.digest or "no digest"
    return Decision(
        True, Strategy.DIGEST, tag, watched.digest, f"{tag} now points at {watched.digest} ({was})"
    )
