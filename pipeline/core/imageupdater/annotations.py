"""Read argocd-image-updater annotations into frozen settings, reporting every problem at once.

Keys, defaults and lookup order follow the v0.x annotation reader (also used by v1.x with
``useAnnotations: true``; reference 1.2): ``registry-scanner/pkg/image/options.go`` and
``pkg/argocd/update.go`` [v0.18]. Every key is prefixed with ``argocd-image-updater.argoproj.io/``;
per-image keys are ``<alias>.<setting>`` with ``/`` in the alias written ``_``. For
``update-strategy``, ``force-update``, ``allow-tags``, ``ignore-tags`` and ``pull-secret`` the
per-alias key wins when present, otherwise the app-wide key; an image without an alias reads
only app-wide keys. Where image-updater logs and carries on with a surprising default we refuse
(unknown strategy, junk ``force-update``, bad credential reference or write-back value), so a
typo cannot silently change what is deployed; ``allow-tags`` still fails closed as documented.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.imageupdater.credrefs import CredentialRef, parse_credential_ref
from pipeline.core.imageupdater.imagespec import ImageSpec, parse_image_list
from pipeline.core.imageupdater.strategies import Strategy, parse_strategy, require_constraint
from pipeline.core.imageupdater.tagfilters import (
    AllowTags,
    Platform,
    TagFilter,
    parse_allow_tags,
    parse_ignore_tags,
    parse_platforms,
)
from pipeline.core.imageupdater.writeback import HelmTarget, WriteBack, parse_write_back
from pipeline.errors import AnnotationError, Problem, UsageError

PREFIX = "argocd-image-updater.argoproj.io/"
IMAGE_LIST = PREFIX + "image-list"
APP_WIDE = ("update-strategy", "force-update", "allow-tags", "ignore-tags", "pull-secret")
PER_IMAGE = (
    *APP_WIDE,
    "platforms",
    "tag-match",
    "helm.image-name",
    "helm.image-tag",
    "helm.image-spec",
    "kustomize.image-name",
)
APP_ONLY = ("image-list", "write-back-method", "write-back-target", "git-branch", "git-repository")
_GO_BOOL = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


@dataclass(frozen=True)
class ImageConfig:
    """One image of ``image-list`` with its effective settings."""

    image: ImageSpec
    strategy: Strategy = Strategy.SEMVER
    allow_tags: AllowTags = field(default_factory=AllowTags)
    ignore_tags: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()  # empty: the poller's default platforms
    pull_secret: CredentialRef | None = None
    helm: HelmTarget = field(default_factory=HelmTarget)
    kustomize_image_name: str | None = None  # ``ORIG`` in ``ORIG=repo:tag``
    force_update: bool = False

    @property
    def alias(self) -> str:
        return self.image.alias

    @property
    def constraint(self) -> str:
        """The semver constraint, or the watched tag for ``digest``."""
        return self.image.tag

    @property
    def tag_filter(self) -> TagFilter:
        return TagFilter(self.allow_tags, self.ignore_tags)


@dataclass(frozen=True)
class ImageUpdaterConfig:
    app: str
    images: tuple[ImageConfig, ...]
    write_back: WriteBack = field(default_factory=WriteBack)
    warnings: tuple[str, ...] = field(default=())

    def image(self, alias: str) -> ImageConfig:
        for config in self.images:
            if config.alias == alias:
                return config
        known = ", ".join(repr(c.alias) for c in self.images if c.alias) or "none"
        raise UsageError(
            f"{self.app or 'the Application'} has no image alias {alias!r} in its image-list",
            hint=f"aliases defined: {known}; pass --alias or add '{alias}=<image>' to "
            f"the {IMAGE_LIST} annotation",
        )


class _Reader:
    def __init__(self, annotations: Mapping[str, str]) -> None:
        self.annotations = annotations
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem("bad-annotation", f"{key}: {message}", fix))

    def lookup(self, alias: str, setting: str, app_wide: bool = True) -> tuple[str, str] | None:
        keys = [f"{PREFIX}{alias}.{setting}"] if alias else []
        keys += [PREFIX + setting] if app_wide else []
        for key in keys:
            if key in self.annotations:
                return key, self.annotations[key]
        return None

    def value(self, alias: str, setting: str, app_wide: bool = True) -> str:
        found = self.lookup(alias, setting, app_wide)
        return found[1] if found else ""


def _strategy(r: _Reader, spec: ImageSpec) -> Strategy:
    found = r.lookup(spec.annotation_alias, "update-strategy")
    if found is None or not found[1].strip():
        return Strategy.SEMVER
    try:
        strategy, warning = parse_strategy(found[1])
    except UsageError as e:
        r.problem(found[0], e.message, e.hint)
        return Strategy.SEMVER
    if warning:
        r.warnings.append(f"{found[0]}: {warning}")
    return strategy


def _check_constraint(r: _Reader, spec: ImageSpec, strategy: Strategy) -> None:
    try:
        require_constraint(strategy, spec.tag)
    except UsageError as e:
        fix = (
            "add the tag to watch to the image, e.g. '<alias>=<image>:main'"
            if strategy is Strategy.DIGEST
            else f"use a constraint such as '^1.0', or set {PREFIX}{spec.annotation_alias or '*'}"
            ".update-strategy to 'digest' to follow that tag"
        )
        r.problem(IMAGE_LIST, f"{spec.original!r}: {e.message}", fix)


def _force_update(r: _Reader, alias: str) -> bool:
    found = r.lookup(alias, "force-update")
    if found is None:
        return False
    value = _GO_BOOL.get(found[1].strip().lower())
    if value is None:
        r.problem(found[0], f"{found[1]!r} is not a boolean", "write 'true' or 'false'")
        return False
    return value


def _allow_tags(r: _Reader, alias: str) -> AllowTags:
    found = r.lookup(alias, "allow-tags")
    if found is None or not found[1]:
        legacy = r.lookup(alias, "tag-match", app_wide=False) if alias else None
        if legacy is not None:
            r.warnings.append(f"{legacy[0]} is deprecated: use {PREFIX}{alias}.allow-tags")
            found = legacy
    allow = parse_allow_tags(found[1] if found else "")
    if allow.invalid_regexp and found is not None:  # refused: image-updater would select nothing
        fix = "write an expression Go's regexp (RE2) compiles: no look-around, no back-references"
        r.problem(found[0], allow.problem, fix)
    elif allow.problem and found is not None:
        r.warnings.append(f"{found[0]}: {allow.problem}; no tag will be selected (fails closed)")
    return allow


def _pull_secret(r: _Reader, alias: str) -> CredentialRef | None:
    found = r.lookup(alias, "pull-secret")
    if found is None or not found[1].strip():
        return None
    try:
        return parse_credential_ref(found[1].strip())
    except UsageError as e:
        r.problem(found[0], e.message, e.hint)
        return None


def _image(r: _Reader, spec: ImageSpec) -> ImageConfig:
    alias = spec.annotation_alias
    strategy = _strategy(r, spec)
    _check_constraint(r, spec, strategy)
    helm = HelmTarget(
        r.value(alias, "helm.image-name", False) or "image.name",
        r.value(alias, "helm.image-tag", False) or "image.tag",
        r.value(alias, "helm.image-spec", False) or None,
    )
    return ImageConfig(
        image=spec,
        strategy=strategy,
        allow_tags=_allow_tags(r, alias),
        ignore_tags=parse_ignore_tags(r.value(alias, "ignore-tags")),
        platforms=parse_platforms(r.value(alias, "platforms", False)) if alias else (),
        pull_secret=_pull_secret(r, alias),
        helm=helm,
        kustomize_image_name=r.value(alias, "kustomize.image-name", False) or None,
        force_update=_force_update(r, alias),
    )


def _unknown_keys(r: _Reader, aliases: set[str]) -> None:
    for key in r.annotations:
        if not key.startswith(PREFIX):
            continue
        rest = key[len(PREFIX) :]
        if rest in APP_ONLY or rest in APP_WIDE:
            continue
        setting = next((s for s in PER_IMAGE if rest.endswith("." + s)), None)
        if setting is None:
            r.warnings.append(f"{key} is not an image-updater annotation; it is ignored")
        elif rest[: -len(setting) - 1] not in aliases:
            r.warnings.append(f"{key} names an alias that image-list does not define")


def parse_annotations(annotations: Mapping[str, str], app: str = "") -> ImageUpdaterConfig:
    """Parse one Application's annotations; raises AnnotationError listing every problem."""
    r = _Reader(annotations)
    images: list[ImageConfig] = []
    if not annotations.get(IMAGE_LIST, "").strip():
        r.problem(IMAGE_LIST, "missing or empty", "list the images, e.g. 'canary=<image>'")
    else:
        try:
            specs = parse_image_list(annotations[IMAGE_LIST])
        except UsageError as e:
            r.problem(IMAGE_LIST, e.message, e.hint)
            specs = []
        seen: set[str] = set()
        for spec in specs:
            if spec.alias and spec.alias in seen:
                r.problem(IMAGE_LIST, f"alias {spec.alias!r} is defined twice", "rename one")
            seen.add(spec.alias)
            images.append(_image(r, spec))
        _unknown_keys(r, {s.annotation_alias for s in specs if s.alias})
    write_back, problems, warnings = parse_write_back(
        {k: annotations.get(PREFIX + k, "") for k in APP_ONLY[1:]}, PREFIX
    )
    r.problems += problems
    r.warnings += warnings
    if r.problems:
        raise AnnotationError(app, r.problems)
    return ImageUpdaterConfig(app, tuple(images), write_back, tuple(r.warnings))


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """An Application's annotations, or an ApplicationSet template's."""
    meta = obj.get("metadata") or {}
    if obj.get("kind") == "ApplicationSet":
        meta = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
    return {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}


def parse_application(obj: Mapping[str, Any]) -> ImageUpdaterConfig | None:
    """The settings of an Application/ApplicationSet; None when it has no ``image-list``."""
    annotations = annotations_of(obj)
    if IMAGE_LIST not in annotations:
        return None
    meta = obj.get("metadata") or {}
    name = f"{meta.get('namespace', '')}/{meta.get('name', '')}".strip("/")
    return parse_annotations(annotations, f"{obj.get('kind', 'Application')} {name}")
