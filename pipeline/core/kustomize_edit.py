"""``kustomize edit set image`` and Argo CD's ``kustomize.patches`` as pure edits of a
kustomization mapping, exactly as Argo CD's repo-server performs them before ``kustomize build``
(reference/argocd-kubernetes.md C.1, C.2; ``kustomize/commands/edit/set/setimage.go``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.errors import KustomizeError

# setimage.go: `^(.*):([a-zA-Z0-9._-]*|\*)$`
_TAG_PATTERN = re.compile(r"^(.*):([a-zA-Z0-9._-]*|\*)$")
_PRESERVE = "*"
INVALID_IMAGE_MESSAGE = """invalid format of image, use one of the following options:
- <image>=<newimage>:<newtag>
- <image>=<newimage>@<digest>
- <image>=<newimage>
- <image>:<newtag>
- <image>@<digest>"""


@dataclass(frozen=True)
class KustomizeImage:
    """One ``images:`` entry (kustomize ``api/types/image.go``)."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""

    def as_entry(self) -> dict[str, str]:
        entry = {"name": self.name}
        for key, value in (("newName", self.new_name), ("newTag", self.new_tag)):
            if value:
                entry[key] = value
        if self.digest:
            entry["digest"] = self.digest
        return entry

    @classmethod
    def from_entry(cls, entry: dict[str, Any]) -> KustomizeImage:
        return cls(
            name=str(entry.get("name", "")),
            new_name=str(entry.get("newName", "")),
            new_tag=str(entry.get("newTag", "")),
            digest=str(entry.get("digest", "")),
        )


def _parse_overwrite(arg: str, overwrite_image: bool) -> tuple[str, str, str]:
    """(name, tag, digest) of ``name[:tag][@digest]``, as setimage.go ``parseOverwrite``."""
    if "@" in arg:
        parts = arg.split("@")
        head, digest = parts[0], parts[1]
        match = _TAG_PATTERN.match(head)
        if match:
            return match.group(1), match.group(2), digest
        return head, "", digest
    match = _TAG_PATTERN.match(arg)
    if match:
        return match.group(1), match.group(2), ""
    if arg and overwrite_image:
        return arg, "", ""
    raise KustomizeError(f"kustomize edit set image {arg!r}: {INVALID_IMAGE_MESSAGE}")


def parse_image_arg(arg: str) -> KustomizeImage:
    """One ``kustomize edit set image`` argument (all forms of reference C.1)."""
    pieces = arg.split("=")
    if len(pieces) == 2:
        new_name, tag, digest = _parse_overwrite(pieces[1], True)
        return KustomizeImage(pieces[0], new_name, tag, digest)
    name, tag, digest = _parse_overwrite(arg, False)
    return KustomizeImage(name, "", tag, digest)


def _keep(value: str, existing: str) -> str:
    return existing if value == _PRESERVE else value


def set_images(kustomization: dict[str, Any], images: Sequence[str]) -> dict[str, Any]:
    """A copy of ``kustomization`` after ``kustomize edit set image <images...>``."""
    wanted: dict[str, KustomizeImage] = {}
    for arg in images:
        image = parse_image_arg(arg)
        wanted[image.name] = image
    result = dict(kustomization)
    if not wanted:
        return result
    merged: dict[str, KustomizeImage] = dict(wanted)
    for entry in kustomization.get("images") or []:
        old = KustomizeImage.from_entry(entry)
        new = wanted.get(old.name)
        if new is None:
            merged[old.name] = old
            continue
        merged[old.name] = KustomizeImage(
            old.name,
            _keep(new.new_name, old.new_name),
            _keep(new.new_tag, old.new_tag),
            _keep(new.digest, old.digest),
        )
    result["images"] = [
        KustomizeImage(
            i.name, _keep(i.new_name, ""), _keep(i.new_tag, ""), _keep(i.digest, "")
        ).as_entry()
        for i in sorted(merged.values(), key=lambda i: i.name)
    ]
    return result


def append_patches(
    kustomization: dict[str, Any], patches: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A copy of ``kustomization`` with Argo CD's ``kustomize.patches`` appended (C.2)."""
    result = dict(kustomization)
    if patches:
        result["patches"] = [*(kustomization.get("patches") or []), *map(dict, patches)]
    return result


# kustomization fields that name local files or directories (kustomize api/types/kustomization.go)
_PATH_LISTS = (
    "resources", "bases", "components", "crds", "patchesStrategicMerge", "generators",
    "transformers", "validators", "configurations",
)  # fmt: skip
_PATH_OBJECTS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")


def local_references(kustomization: dict[str, Any]) -> list[str]:
    """The relative paths a kustomization reads besides itself (remote URLs excluded), so a
    render can be given exactly the directories it needs."""
    refs: list[str] = []
    for key in _PATH_LISTS:
        for entry in kustomization.get(key) or []:
            if isinstance(entry, str) and "\n" not in entry:
                refs.append(entry)
    for key in _PATH_OBJECTS:
        for entry in kustomization.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                refs.append(entry["path"])
    for key in _GENERATORS:
        for generator in kustomization.get(key) or []:
            if not isinstance(generator, dict):
                continue
            files = [*(generator.get("files") or []), *(generator.get("envs") or [])]
            if isinstance(generator.get("env"), str):
                files.append(generator["env"])
            refs += [f.split("=", 1)[-1] for f in files if isinstance(f, str)]
    openapi = kustomization.get("openapi")
    if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
        refs.append(openapi["path"])
    return [r for r in refs if "://" not in r and not r.startswith(("github.com/", "git@"))]
