"""One ``image-list`` entry: ``[<alias>=]<image>[:<constraint-or-tag>][@<digest>]``.

Follows ``registry-scanner/pkg/image/image.go`` ``NewFromIdentifier`` (reference 1.3):

1. The first ``=`` separates the alias; whitespace around the entry and the ``=`` is trimmed
   (v1.x annotation reader). ``web=`` is an error ("empty image name").
2. The reference is parsed with the distribution grammar (``ParseNormalizedNamed``; here
   :func:`pipeline.core.images.parse_image_ref`). The registry is kept only if written
   (``docker.io`` dropped otherwise) and Docker Hub's implicit ``library/`` is stripped unless
   written first; other registries keep ``library/`` (HEAD #1783). A tag and a digest are both
   kept (fix of #1357).
3. If that fails (semver constraints such as ``^1.0`` are not valid tags) the legacy splitter
   runs: the first path component is the registry only if it contains a ``.``; ``@`` splits a
   digest; otherwise the first ``:`` splits the tag.

The "tag" is the semver constraint for ``semver``, the watched tag for ``digest``, and is
ignored by ``newest-build``/``alphabetical``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.images import DOCKER_HUB, ImageRef, parse_image_ref
from pipeline.errors import UsageError


@dataclass(frozen=True)
class ImageSpec:
    alias: str
    registry: str  # as written; "" when the entry names none
    name: str  # repository path, e.g. "jannfis/test-image", "nginx"
    tag: str = ""  # constraint (semver), watched tag (digest), or ignored
    digest: str = ""
    original: str = ""

    @property
    def full_name(self) -> str:
        """``GetFullNameWithoutTag``: the registry only if it was written."""
        return f"{self.registry}/{self.name}" if self.registry else self.name

    @property
    def full_name_with_tag(self) -> str:
        """``GetFullNameWithTag``: ``name[:tag][@digest]``."""
        out = self.full_name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def tag_with_digest(self) -> str:
        """``GetTagWithDigest``: ``tag@digest``; ``latest@digest`` when there is no tag."""
        if not self.digest:
            return self.tag
        return f"{self.tag or 'latest'}@{self.digest}"

    @property
    def annotation_alias(self) -> str:
        """The alias as it appears in annotation keys (``/`` written as ``_``)."""
        return self.alias.replace("/", "_")

    def registry_ref(self) -> ImageRef:
        """The repository to query (registry normalised, Docker Hub ``library/`` restored)."""
        return parse_image_ref(self.full_name)

    def same_repository(self, other: ImageSpec) -> bool:
        """image-updater's strict match: registry and name equal as written
        (``x/bar`` differs from ``docker.io/x/bar``; ``TestContainerImage_DiffersFrom``)."""
        return (self.registry, self.name) == (other.registry, other.name)


def _legacy(alias: str, ref: str, original: str) -> ImageSpec:
    parts = ref.split("/")
    registry = parts[0] if len(parts) > 1 and "." in parts[0] else ""
    rest = "/".join(parts[1:]) if registry else ref
    if "@" in rest:
        head, digest = rest.split("@", 1)
        colon, slash = head.rfind(":"), head.rfind("/")
        if colon > slash:
            return ImageSpec(alias, registry, head[:colon], head[colon + 1 :], digest, original)
        return ImageSpec(alias, registry, head, "", digest, original)
    name, sep, tag = rest.partition(":")
    return ImageSpec(alias, registry, name, tag if sep else "", "", original)


def parse_image_spec(entry: str) -> ImageSpec:
    """Parse one ``image-list`` entry; raises UsageError for an empty image name."""
    original = entry.strip()
    alias, sep, ref = original.partition("=")
    alias, ref = (alias.strip(), ref.strip()) if sep else ("", alias.strip())
    if not ref:
        raise UsageError(
            f"image-list entry {original!r} has an empty image name",
            hint="write '<alias>=<image>[:<constraint>]', e.g. 'canary=ghcr.io/org/app:^1.0'",
        )
    try:
        parsed = parse_image_ref(ref)
    except UsageError:
        return _legacy(alias, ref, original)
    registry = parsed.registry
    if registry == DOCKER_HUB and not ref.startswith(DOCKER_HUB):
        registry = ""
    name = parsed.repository
    if parsed.registry == DOCKER_HUB and not ref.startswith("library/"):
        name = name.removeprefix("library/")
    return ImageSpec(alias, registry, name, parsed.tag or "", parsed.digest or "", original)


def parse_image_list(text: str) -> list[ImageSpec]:
    """All entries of an ``image-list`` value; empty entries are skipped."""
    return [parse_image_spec(e) for e in text.split(",") if e.strip()]
