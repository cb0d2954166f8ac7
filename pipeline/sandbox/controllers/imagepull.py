"""Image resolution for the sandbox kubelet: pull policy, the registry lookup, error texts.

* ``imagePullPolicy`` defaults like the API server (``pkg/apis/core/v1/defaults.go``): Always
  for ``:latest`` or no tag, IfNotPresent otherwise (a digest counts as a tag).
* A reference resolves with one manifest HEAD accepting OCI index, Docker manifest list and
  single manifests (``pipeline.adapters.registry``); the digest is what containerd records in
  imageID (the index digest for multi-arch images, reference F.1).
* Messages copy containerd's and the kubelet's (``images/image_manager.go``,
  ``kuberuntime_image.go``): ``rpc error: code = NotFound desc = failed to pull and unpack
  image "<ref>": failed to resolve reference "<ref>": <ref>: not found``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.adapters.credentials import PullSecretCredentials
from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import ImageRef, normalized_name, parse_image_ref
from pipeline.errors import ManifestNotFound, PipelineError, UsageError

Obj = dict[str, Any]


class ImageResolveError(Exception):
    """The waiting ``reason`` and ``message`` the container reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ResolvedImage:
    ref: ImageRef
    digest: str
    local_id: str = ""  # sha256:<config digest> of a side-loaded image (loadedimages.py)

    @property
    def image_id(self) -> str:
        """``<repo as written>@sha256:<hex>`` (containerd's first repo digest, F.1); a loaded
        image's bare ``sha256:<config digest>``."""
        return self.local_id or f"{self.ref.name}@{self.digest}"


def pull_policy(container: Mapping[str, Any]) -> str:
    explicit = container.get("imagePullPolicy")
    if explicit:
        return str(explicit)
    image = str(container.get("image", ""))
    try:
        ref = parse_image_ref(image)
    except UsageError:
        return "IfNotPresent"
    if ref.digest is None and ref.tag in (None, "latest"):
        return "Always"
    return "IfNotPresent"


def full_reference(ref: ImageRef) -> str:
    """containerd's fully qualified name: ``docker.io/library/nginx:latest``."""
    text = normalized_name(ref)
    if ref.tag or not ref.digest:
        text += f":{ref.tag or 'latest'}"
    if ref.digest:
        text += f"@{ref.digest}"
    return text


def parse_container_image(image: str) -> ImageRef:
    """Parse, or fail with InvalidImageName as the kubelet does (``applyDefaultImageTag``)."""
    try:
        return parse_image_ref(image)
    except UsageError as e:
        raise ImageResolveError(
            "InvalidImageName",
            f'Failed to apply default image tag "{image}": couldn\'t parse image name '
            f'"{image}": invalid reference format: {e}',
        ) from e


def pull_error(ref: ImageRef, error: PipelineError) -> ImageResolveError:
    full = full_reference(ref)
    if isinstance(error, ManifestNotFound):
        detail = f'failed to resolve reference "{full}": {full}: not found'
        code = "NotFound"
    else:
        detail = f'failed to resolve reference "{full}": {error}'
        code = "Unknown"
    return ImageResolveError(
        "ErrImagePull",
        f'rpc error: code = {code} desc = failed to pull and unpack image "{full}": {detail}',
    )


def backoff_message(image: str) -> str:
    return f'Back-off pulling image "{image}"'


def never_pull_message(image: str) -> str:
    return f'Container image "{image}" is not present with pull policy of Never'


class ImageResolver:
    """Resolves references against the real registries with the pod's pull secrets."""

    def __init__(self, registry_ca: str | None = None, insecure: Iterable[str] = ()) -> None:
        self._ca = registry_ca
        self._insecure = list(insecure)

    def resolve(self, ref: ImageRef, pull_secrets: Sequence[Mapping[str, Any]]) -> ResolvedImage:
        """The digest ``ref`` stands for now; a pinned digest is checked to exist."""
        client = RegistryClient(
            credentials=PullSecretCredentials(list(pull_secrets)),
            ca_bundle=self._ca,
            insecure=self._insecure,
            timeout=10.0,
        )
        try:
            info = client.head_digest(ref)
        except PipelineError as e:
            raise pull_error(ref, e) from e
        finally:
            client.close()
        return ResolvedImage(ref=ref, digest=ref.digest or info.digest)
