"""What an Argo CD Application pins for one image-updater alias, read from its spec.

The writers we read back (pipeline/core/pin.py and argocd-image-updater's ``argocd``
write-back, reference/argocd-image-updater.md 2.1):

- ``kustomize.images``: ``[ORIG=]repo[:tag][@digest]`` entries, matched by the name before the
  first ``=``/``:``/``@`` (Argo CD ``KustomizeImage.Match``), never by the ``newName`` after
  ``=``: ``app-canary=app@sha256:...`` pins the images named ``app-canary`` only. An ``ORIG``
  equal to the alias's ``kustomize.image-name`` is specific to that alias; an entry keyed on
  the repository applies to every workload using it (kustomize applies ``images`` after
  ``patches``).
- ``kustomize.patches``: a strategic-merge patch targeting one Deployment that sets a container
  image (``repo@sha256:...``, what ``deploy-canary`` writes).
- ``helm.parameters``: ``<image-spec>`` = ``repo:tag@digest``, or ``<image-tag>`` =
  ``tag@digest`` beside ``<image-name>``.

Pure functions over the Application JSON; nothing here does I/O.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.core.images import ImageRef, parse_image_ref
from pipeline.core.imageupdater.annotations import ImageConfig
from pipeline.core.kustomize_edit import parse_image_arg
from pipeline.core.pin import get_path, source_path
from pipeline.errors import AmbiguousPin, KustomizeError, UsageError

Obj = dict[str, Any]


@dataclass(frozen=True)
class Pin:
    """One place of the Application that sets the alias's image."""

    field: str  # e.g. "spec.source.kustomize.patches"
    image: str  # the value as written
    tag: str | None
    digest: str | None
    deployment: str | None = None  # the patch's target; None for images/helm

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "image": self.image,
            "tag": self.tag,
            "digest": self.digest,
            "deployment": self.deployment,
        }


def _same_repo(text: str, wanted: ImageRef) -> ImageRef | None:
    try:
        ref = parse_image_ref(text)
    except UsageError:
        return None
    return ref if (ref.registry, ref.repository) == (wanted.registry, wanted.repository) else None


def _patch_images(entry: Obj) -> list[tuple[str, str]]:
    """(container, image) pairs a strategic-merge patch entry sets (JSON or YAML text)."""
    try:
        body = yaml.safe_load(str(entry.get("patch") or ""))
    except yaml.YAMLError:
        return []
    if not isinstance(body, dict):
        return []
    containers = get_path(body, "spec.template.spec.containers") or []
    return [
        (str(c.get("name", "")), str(c["image"]))
        for c in containers
        if isinstance(c, dict) and c.get("image")
    ]


def _patch_pins(src: Obj, base: str, wanted: ImageRef) -> list[Pin]:
    pins = []
    for entry in (src.get("kustomize") or {}).get("patches") or []:
        target = entry.get("target") or {}
        if target.get("kind") != "Deployment":
            continue
        for _container, image in _patch_images(entry):
            ref = _same_repo(image, wanted)
            if ref is not None:
                field = f"{base}.kustomize.patches"
                pins.append(Pin(field, image, ref.tag, ref.digest, str(target.get("name", ""))))
    return pins


def _image_pins(src: Obj, base: str, config: ImageConfig, wanted: ImageRef) -> list[Pin]:
    """kustomize.images entries for the alias: its own ORIG name first, then the repository."""
    own, shared = [], []
    for entry in (src.get("kustomize") or {}).get("images") or []:
        try:
            image = parse_image_arg(str(entry))
        except KustomizeError:
            continue
        pin = Pin(
            f"{base}.kustomize.images", str(entry), image.new_tag or None, image.digest or None
        )
        # an entry applies to the images whose name is its ``name`` (the part before ``=``),
        # never to those named like its newName (kustomize ImageTransformer, Argo CD Match)
        if config.kustomize_image_name and image.name == config.kustomize_image_name:
            own.append(pin)
        elif _same_repo(image.name, wanted):
            shared.append(pin)
    return own + shared


def _helm_pin(src: Obj, base: str, config: ImageConfig) -> Pin | None:
    params = {
        str(p.get("name")): str(p.get("value", ""))
        for p in (src.get("helm") or {}).get("parameters") or []
    }
    field = f"{base}.helm.parameters"
    if config.helm.image_spec and config.helm.image_spec in params:
        value = params[config.helm.image_spec]
        with contextlib.suppress(UsageError):
            ref = parse_image_ref(value)
            return Pin(field, value, ref.tag, ref.digest)
        return None
    if config.helm.image_tag in params:
        value = params[config.helm.image_tag]
        tag, _, digest = value.partition("@")
        return Pin(field, value, tag or None, digest or None)
    return None


def current_pin(app: Obj, config: ImageConfig, deployment: str | None = None) -> Pin | None:
    """The pin that decides what the alias runs, or None when the source's own tag applies.

    Precedence follows what kustomize renders last: the alias's own ``kustomize.images``
    entry, then a patch targeting ``deployment`` (or the only patch for the repository), then
    an ``images`` entry keyed on the repository, then Helm parameters. Raises AmbiguousPin when
    several patches pin the repository and ``deployment`` is None.
    """
    base = source_path(app)
    src = get_path(app, base) or {}
    wanted = config.image.registry_ref()
    images = _image_pins(src, base, config, wanted)
    if (
        images
        and config.kustomize_image_name
        and images[0].image.startswith(config.kustomize_image_name + "=")
    ):
        return images[0]
    patches = _patch_pins(src, base, wanted)
    if deployment is not None:
        patches = [p for p in patches if p.deployment == deployment]
    if len(patches) > 1:
        targets = sorted({p.deployment or "" for p in patches})
        if len(targets) > 1:
            raise AmbiguousPin(
                f"{len(patches)} kustomize patches pin {wanted.name} (Deployments {targets})",
                hint="the Deployment of the alias decides; see docs/poll-status.md",
            )
    if patches:
        return patches[-1]
    if images:
        return images[0]
    return _helm_pin(src, base, config)


def patched_deployments(app: Obj, config: ImageConfig) -> set[str]:
    """Deployments this Application's kustomize patches pin to the alias's repository."""
    base = source_path(app)
    src = get_path(app, base) or {}
    return {
        p.deployment for p in _patch_pins(src, base, config.image.registry_ref()) if p.deployment
    }
