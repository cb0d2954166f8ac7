"""Image references and digests: parsing and comparison, no I/O.

Grammar follows distribution/reference (`reference.go`): ``[domain/]path[:tag][@digest]``.
The first path component is a domain when it contains ``.`` or ``:`` or is ``localhost``;
otherwise the reference is on Docker Hub. Unlike ``ParseNormalizedNamed`` we keep what the
user wrote (``name``) beside the normalized form, because kustomize matches image names as
written, with no registry normalization (docs/concepts.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pipeline.errors import UsageError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

# distribution/reference regexp.go, as Go reads it: ``\w`` is ASCII ``[0-9A-Za-z_]`` (re.ASCII)
# and a match is of the whole text (``\Z``: Python's ``$`` would also accept a final newline)
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z", re.ASCII)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}\Z", re.ASCII)
_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*\Z", re.ASCII)
_DOMAIN_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?\Z|^\[[a-fA-F0-9:]+\](?::[0-9]+)?\Z",
    re.ASCII,
)
_SHA_IN_TEXT = re.compile(r"sha256:([a-f0-9]{64})")


# manifest media types a registry may answer with (OCI image-spec, Docker distribution)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference.

    ``name`` is the repository as written (``mng990/eco2``, ``127.0.0.1:5000/demo``);
    ``registry`` and ``repository`` are the normalized parts used to talk to the registry.
    """

    name: str
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def api_host(self) -> str:
        """Host to send registry API requests to (Docker Hub's API lives elsewhere)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/`` in the registry API: the digest if pinned, else tag."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str, *, keep_tag: bool = False) -> ImageRef:
        validate_digest(digest)
        return replace(self, digest=digest, tag=self.tag if keep_tag else None)

    def untagged(self) -> ImageRef:
        return replace(self, tag=None, digest=None)


def validate_tag(tag: str) -> str:
    """A tag as distribution/reference's ``TagRegexp``: ASCII word characters, . and -."""
    if not _TAG_RE.match(tag):
        raise UsageError(
            f"invalid tag {tag!r}",
            hint="a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
        )
    return tag


def validate_digest(digest: str) -> str:
    if not _DIGEST_RE.match(digest):
        raise UsageError(
            f"invalid digest {digest!r}",
            hint="a digest is 'sha256:' followed by 64 lowercase hex characters",
        )
    return digest


def parse_image_ref(text: str) -> ImageRef:
    """Parse ``text`` as an image reference; raise UsageError naming the bad part."""
    original = text
    if not text or text != text.strip():
        raise UsageError(f"invalid image reference {original!r}: empty or surrounded by spaces")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise UsageError(
                f"invalid image reference {original!r}: bad digest {digest!r}",
                hint="use sha256:<64 lowercase hex characters>",
            )
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise UsageError(
                f"invalid image reference {original!r}: bad tag {tag!r}",
                hint="a tag is up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'",
            )
    parts = text.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN_RE.match(first):
            raise UsageError(f"invalid image reference {original!r}: bad registry {first!r}")
        registry, path_parts = first, parts[1:]
    else:
        registry, path_parts = DOCKER_HUB, parts
    for component in path_parts:
        if not _COMPONENT_RE.match(component):
            raise UsageError(
                f"invalid image reference {original!r}: bad path component {component!r}",
                hint="repository names are lowercase letters, digits and . _ - separators",
            )
    repository = "/".join(path_parts)
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(name=text, registry=registry, repository=repository, tag=tag, digest=digest)


def normalized_name(ref: ImageRef) -> str:
    """``docker.io/library/nginx`` style name, as containerd reports it in imageID."""
    return f"{ref.registry}/{ref.repository}"


def digest_from_image_id(image_id: str) -> str | None:
    """The ``sha256:<hex>`` of a container status imageID, whatever the runtime's format.

    Accepts ``repo@sha256:..`` (containerd), ``docker-pullable://repo@sha256:..`` (dockershim,
    cri-dockerd), ``docker://sha256:..`` and bare ``sha256:..``. Returns None for ``""``.
    """
    if not image_id:
        return None
    match = _SHA_IN_TEXT.findall(image_id.rsplit("@", 1)[-1])
    return f"sha256:{match[-1]}" if match else None


def same_digest(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def image_id_is(image_id: str, digest: str, config_digest: str = "") -> bool:
    """Does a container's ``imageID`` name the image pushed as ``digest``?

    Pulled images report the manifest (or index) digest, ``repo@sha256:...`` or
    ``docker-pullable://repo@sha256:...``. An image loaded onto the node instead of pulled
    (``kind load``, some CRI-O versions) reports ``sha256:<config digest>`` with no repository:
    that matches when ``config_digest`` is the config digest of the image this run built.
    """
    found = digest_from_image_id(image_id)
    if same_digest(found, digest):
        return True
    return bool(config_digest) and "@" not in image_id and same_digest(found, config_digest)
