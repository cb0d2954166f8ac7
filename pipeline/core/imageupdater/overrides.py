"""Merging image-updater's git write-back override file (``.argocd-source-<app>.yaml``).

With ``write-back-method: git`` image-updater merges the Application's ``kustomize.images``
into the ``kustomize.images`` already in that file: ``mergeKustomizeOverride`` in
``pkg/argocd/update.go`` (v1.x; reference 1.9, test vector 34 from ``Test_mergeKustomizeOverride``):

- Each new entry is parsed with ``NewFromIdentifier`` (:func:`parse_image_spec`, so
  ``ORIG=`` aliases are split off) and looked up among the existing entries by image name and
  registry, where an empty registry and ``docker.io`` are the same (``sameImageNameAndRegistry``,
  #1411), so ``docker.io/library/nginx`` and ``nginx`` match.
- A match is replaced only when the existing entry has no tag/digest at all, or the new one has
  one that differs (``ImageTag.Equals``: when either side has a digest only the digests are
  compared, else the tag names). So an equal digest keeps the existing string, with its tag.
- No match: the new entry is appended. Only the first match is considered.

Helm parameters are merged by name (``mergeHelmOverride``) and, since v1.3.0 (#1770), written
sorted by name (``sortHelmParameters``).
"""

from __future__ import annotations

from typing import Any

from pipeline.core.images import DOCKER_HUB
from pipeline.core.imageupdater.imagespec import ImageSpec, parse_image_spec


def _same_image(a: ImageSpec, b: ImageSpec) -> bool:
    if a.name != b.name:
        return False
    registries = {a.registry, b.registry}
    return len(registries) == 1 or registries == {"", DOCKER_HUB}


def _has_tag(spec: ImageSpec) -> bool:
    """``ImageTag != nil``: a tag name or a digest was written."""
    return bool(spec.tag or spec.digest)


def _tags_equal(a: ImageSpec, b: ImageSpec) -> bool:
    if a.digest or b.digest:
        return a.digest == b.digest
    return a.tag == b.tag


def merge_kustomize_override(existing: list[str], new: list[str]) -> list[str]:
    """The override file's ``kustomize.images`` after merging ``new`` into ``existing``."""
    out = list(existing)
    for entry in new:
        incoming = parse_image_spec(entry)
        for index, current in enumerate(out):
            present = parse_image_spec(current)
            if not _same_image(incoming, present):
                continue
            if not _has_tag(present) or (_has_tag(incoming) and not _tags_equal(present, incoming)):
                out[index] = entry
            break
        else:
            out.append(entry)
    return out


def merge_helm_override(
    existing: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The override file's ``helm.parameters``: replaced by name, appended, sorted by name."""
    out = list(existing)
    for param in new:
        index = next((i for i, p in enumerate(out) if p.get("name") == param.get("name")), -1)
        if index >= 0:
            out[index] = param
        else:
            out.append(param)
    return sorted(out, key=lambda p: str(p.get("name", "")))
