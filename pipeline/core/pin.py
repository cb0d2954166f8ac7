"""Pin the canary, and only the canary, to our digest in the Argo CD Application.

What to write is chosen from the Application's source type and its argocd-image-updater
annotations (reference C.1-C.4, image-updater 1.2/2.1):

- ``kustomize-patch`` (default for Kustomize): a ``spec.source.kustomize.patches`` entry
  (Argo CD >= 2.9) targeting the canary Deployment with a strategic-merge patch that sets one
  container's image to ``repo@sha256:...``. Stable is not targeted, so it cannot be re-pinned.
- ``kustomize-image``: when the image-updater annotation ``<alias>.kustomize.image-name`` names
  a canary-specific image, a ``kustomize.images`` entry ``ORIG=repo:tag@sha256:...`` (the
  image-updater >= 0.15 value format). Never keyed on the shared repository name (row 1 of C.4).
- ``helm``: ``helm.parameters`` ``<image-spec>`` = ``repo:tag@sha256:...``, or
  ``<image-name>`` = repo and ``<image-tag>`` = ``tag@sha256:...`` (image-updater 2.1 format).

The image-updater settings come from pipeline/imageupdater (``parse_application``, via
pipeline/core/alias.py ``image_config``), and the values and merges are image-updater's own
(``writeback.kustomize_image_value``/``helm_parameters``, ``merge_*``), so both tools can manage
one Application without fighting over the format.

The write is a JSON merge patch of only that list plus our run annotations, carrying the
resourceVersion we read, so a concurrent writer makes it fail with 409 instead of being lost;
other entries of the list are preserved (read-modify-write). The entries the pin replaced are
recorded in ``pipeline.dev/canary-previous`` in the same patch (pipeline/core/previous.py),
so cleanup-canary restores them.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from pipeline.core.alias import image_config
from pipeline.core.images import ImageRef, parse_image_ref
from pipeline.core.imageupdater.annotations import PREFIX as UPDATER
from pipeline.core.imageupdater.annotations import ImageConfig
from pipeline.core.imageupdater.imagespec import ImageSpec
from pipeline.core.imageupdater.writeback import (
    HelmTarget,
    helm_parameters,
    kustomize_image_value,
    merge_helm_parameters,
    merge_kustomize_images,
)
from pipeline.core.plan import DIGEST_ANNOTATION, PREVIOUS_ANNOTATION, RUN_ANNOTATION, ServicePlan
from pipeline.core.previous import previous_record
from pipeline.errors import Problem, UsageError

Obj = dict[str, Any]


@dataclass(frozen=True)
class PinWrite:
    """One decided write: which list under the source, its new value, and the patch body."""

    method: str
    field: str  # e.g. "spec.source.kustomize.patches"
    entry: Any  # the entry we own inside that list
    value: list[Any]  # the whole new list (merge patch replaces lists)
    body: Obj  # the merge patch sent to the Application
    container: str | None = None  # the container pinned (kustomize-patch), else unknown

    def present_in(self, app: Obj) -> bool:
        """Is our entry still in the Application (an ApplicationSet may have reverted it)?"""
        return self.entry in (get_path(app, self.field) or [])


def get_path(obj: Obj, dotted: str) -> Any:
    current: Any = obj
    for part in dotted.split("."):
        if part.endswith("]"):
            name, index = part[:-1].split("[")
            current = (current or {}).get(name) or []
            current = current[int(index)] if int(index) < len(current) else None
        else:
            current = (current or {}).get(part)
    return current


def source_path(app: Obj) -> str:
    """``spec.source``, or ``spec.sources[i]`` of the first Kustomize/Helm source."""
    sources = app.get("spec", {}).get("sources")
    if not sources:
        return "spec.source"
    for i, src in enumerate(sources):
        if src.get("kustomize") or src.get("helm") or src.get("chart"):
            return f"spec.sources[{i}]"
    return "spec.sources[0]"


def source_type(app: Obj) -> str:
    """Helm or Kustomize, from the source fields, else from status.sourceType."""
    src = get_path(app, source_path(app)) or {}
    if src.get("chart") or src.get("helm"):
        return "Helm"
    if src.get("kustomize"):
        return "Kustomize"
    return str(app.get("status", {}).get("sourceType") or "Kustomize")


def canary_container(deployment: Obj, plan: ServicePlan) -> str | None:
    """The container to pin: --container, else the one running our repository."""
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers")
    names = [c.get("name") for c in containers or []]
    if plan.container:
        return plan.container if plan.container in names else None
    for c in containers or []:
        try:
            ref = parse_image_ref(c.get("image", ""))
        except UsageError:
            continue
        if (ref.registry, ref.repository) == (plan.repository.registry, plan.repository.repository):
            return str(c["name"])
    return str(names[0]) if len(names) == 1 else None


def choose_method(app: Obj, plan: ServicePlan, requested: str, config: ImageConfig | None) -> str:
    """``auto``: helm for a Helm source; kustomize-image when the image's
    ``kustomize.image-name`` names a canary-specific image; else kustomize-patch."""
    if requested != "auto":
        return requested
    if source_type(app) == "Helm":
        return "helm"
    orig = config.kustomize_image_name if config else None
    if orig and orig not in (plan.repository.name, _full(plan.repository)):
        return "kustomize-image"
    return "kustomize-patch"


def _full(ref: ImageRef) -> str:
    return f"{ref.registry}/{ref.repository}"


def _our_image(plan: ServicePlan) -> ImageSpec:
    """Our repository as written (``--image`` or the image-list entry): image-updater writes
    the registry only when the configuration names it (``GetFullNameWithoutTag``)."""
    name = plan.repository.name
    return ImageSpec(alias=plan.alias or "", registry="", name=name, original=name)


def _patch_entry(deployment_name: str, container: str, image: str) -> Obj:
    smp = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment_name},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
    }
    return {
        "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": deployment_name},
        "patch": json.dumps(smp),
    }


def _targets_deployment(entry: Obj, name: str) -> bool:
    target = entry.get("target") or {}
    return bool(target.get("kind") == "Deployment" and target.get("name") == name)


def plan_pin(
    app: Obj, plan: ServicePlan, digest: str, deployment: Obj, requested: str = "auto"
) -> PinWrite | Problem:
    """Decide the write for ``digest``; a Problem when the canary cannot be pinned safely.

    Raises AnnotationError (exit 2) when the image-updater annotations are bad.
    """
    config = image_config(app, plan) if requested != "kustomize-patch" else None
    method = choose_method(app, plan, requested, config)
    container = canary_container(deployment, plan)
    base = source_path(app)
    src = get_path(app, base) or {}
    dep_name = deployment.get("metadata", {}).get("name", "")
    tag = plan.tags[0]
    if method == "kustomize-patch":
        if container is None:
            return Problem(
                "canary-container-ambiguous",
                f"cannot tell which container of Deployment {dep_name} runs {plan.repository}",
                "pass --container NAME (or 'container:' in pipeline.yaml)",
            )
        entry: Any = _patch_entry(dep_name, container, plan.pinned(digest))
        old = list((src.get("kustomize") or {}).get("patches") or [])
        value = [e for e in old if not _targets_deployment(e, dep_name)] + [entry]
        field = "kustomize.patches"
    elif method == "kustomize-image":
        orig = config.kustomize_image_name if config else None
        if not orig:
            alias = plan.alias or "canary"
            return Problem(
                "no-canary-image-name",
                "--pin-method kustomize-image needs a canary-specific image name",
                f"annotate the Application:\n  {UPDATER}{alias}.kustomize.image-name: "
                f"{plan.repository.name}-canary\nand use that name in the canary Deployment",
            )
        entry = kustomize_image_value(_our_image(plan), tag, digest, orig)
        old = list((src.get("kustomize") or {}).get("images") or [])
        value = merge_kustomize_images(old, entry)
        field = "kustomize.images"
    else:
        params = helm_parameters(
            _our_image(plan), config.helm if config else HelmTarget(), tag, digest
        )
        old = list((src.get("helm") or {}).get("parameters") or [])
        value = merge_helm_parameters(old, params)
        entry = params[-1]
        field = "helm.parameters"
    annotations = app.get("metadata", {}).get("annotations") or {}
    previous = previous_record(annotations, f"{base}.{field}", old, value)
    return PinWrite(
        method=method,
        field=f"{base}.{field}",
        entry=entry,
        value=value,
        body=_merge_body(app, plan, digest, base, field, value, previous),
        container=container,
    )


def _merge_body(
    app: Obj, plan: ServicePlan, digest: str, base: str, field: str, value: list[Any],
    previous: str | None,
) -> Obj:  # fmt: skip
    section, key = field.split(".")
    annotations = {RUN_ANNOTATION: plan.run_key, DIGEST_ANNOTATION: digest}
    if previous is not None:
        annotations[PREVIOUS_ANNOTATION] = previous
    meta = {
        "resourceVersion": app.get("metadata", {}).get("resourceVersion"),
        "annotations": annotations,
    }
    if base == "spec.source":
        return {"metadata": meta, "spec": {"source": {section: {key: value}}}}
    # multi-source: lists are replaced whole by a merge patch, so send every source
    index = int(base[base.index("[") + 1 : -1])
    sources = copy.deepcopy(app["spec"]["sources"])
    sources[index].setdefault(section, {})[key] = value
    return {"metadata": meta, "spec": {"sources": sources}}
