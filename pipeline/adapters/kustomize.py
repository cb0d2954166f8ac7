"""Render a GitOps source the way Argo CD's repo-server does, with the real kustomize.

Shared by the sandbox's Argo CD controller and the product's preflight, so both see exactly the
manifests a real Argo CD would apply.

What Argo CD does (reference/argocd-kubernetes.md C.1, C.2; ``util/kustomize/kustomize.go``):
- ``spec.source.kustomize.images`` runs ``kustomize edit set image <img>...`` in the
  kustomization at ``spec.source.path``: each argument replaces the whole same-name ``images:``
  entry, ``*`` keeps a part of the existing entry, and the list is re-written sorted by name
  (``kustomize/commands/edit/set/setimage.go``).
- ``spec.source.kustomize.patches`` are appended to ``patches:`` of that same kustomization.
- Then ``kustomize build`` runs; here the stock ``kubectl kustomize`` (embedded kustomize v5).
- A directory without a kustomization is a "Directory" source: every ``*.yaml``, ``*.yml`` and
  ``*.json`` file in it (not recursive, Argo CD's default) is read as manifests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import PipelineError, truncate
from pipeline.tools import kubectl_path

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# setimage.go: `^(.*):([a-zA-Z0-9._-]*|\*)$`
_TAG_PATTERN = re.compile(r"^(.*):([a-zA-Z0-9._-]*|\*)$")
_PRESERVE = "*"
INVALID_IMAGE_MESSAGE = """invalid format of image, use one of the following options:
- <image>=<newimage>:<newtag>
- <image>=<newimage>@<digest>
- <image>=<newimage>
- <image>:<newtag>
- <image>@<digest>"""


class KustomizeError(PipelineError):
    """kustomize refused the source; ``stderr`` is kubectl's own message."""

    reason = "kustomize-failed"

    def __init__(self, message: str, *, stderr: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.stderr = stderr


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


def find_kustomization(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_documents(text: str, origin: str) -> list[dict[str, Any]]:
    """Objects of a multi-document YAML (or JSON) text; ``List`` kinds are expanded."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise KustomizeError(f"{origin}: invalid YAML: {e}") from e
    objects: list[dict[str, Any]] = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise KustomizeError(
                f"{origin}: a manifest must be a mapping, got {type(doc).__name__}"
            )
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(doc["items"])
        else:
            objects.append(doc)
    return objects


def render_directory(directory: Path) -> list[dict[str, Any]]:
    """Argo CD's Directory source type: every YAML/JSON file in ``directory``, by name."""
    if not directory.is_dir():
        raise KustomizeError(f"{directory}: app path does not exist")
    objects: list[dict[str, Any]] = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".yaml", ".yml", ".json"):
            text = path.read_text()
            if path.suffix == ".json":
                objects.extend(load_documents(json.dumps(json.loads(text)), str(path)))
            else:
                objects.extend(load_documents(text, str(path)))
    return objects


def run_kustomize(directory: Path, kubectl: str | None = None) -> list[dict[str, Any]]:
    """``kubectl kustomize <directory>`` with the stock kubectl; its stderr on failure."""
    if kubectl is None:
        kubectl = kubectl_path()
    command = [kubectl, "kustomize", str(directory)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        stderr = proc.stderr.strip()
        raise KustomizeError(
            f"`{' '.join(command)}` exited {proc.returncode}: {truncate(stderr)}",
            stderr=stderr,
            hint="fix the kustomization (run the same command locally to see the full error)",
        )
    return load_documents(proc.stdout, f"kubectl kustomize {directory}")


def _git_top(directory: Path) -> Path:
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return directory


def render(
    source_dir: Path,
    *,
    images: Sequence[str] = (),
    patches: Sequence[dict[str, Any]] = (),
    kubectl: str | None = None,
    edits: dict[str, Any] | None = None,
    root: Path | None = None,
    in_place: bool = False,
) -> list[dict[str, Any]]:
    """The manifests Argo CD would apply for a source at ``source_dir``.

    ``images``/``patches`` are ``spec.source.kustomize.images``/``patches``; ``edits`` sets
    plain kustomization fields the way Argo CD's ``namePrefix``, ``nameSuffix``,
    ``commonLabels``, ``commonAnnotations`` and ``namespace`` options do. Without any of them
    the source renders where it is. Otherwise the edit happens in a temporary copy of ``root``
    (default: the enclosing git work tree, which holds every ``../base`` the overlay may
    reference) unless ``in_place`` says ``source_dir`` is a throw-away export already.
    """
    source_dir = Path(source_dir)
    kustomization_file = find_kustomization(source_dir)
    if kustomization_file is None:
        if images or patches:
            raise KustomizeError(
                f"{source_dir}: kustomize images/patches given but there is no kustomization",
                hint="point spec.source.path at a directory with kustomization.yaml",
            )
        return render_directory(source_dir)
    if not (images or patches or edits):
        return run_kustomize(source_dir, kubectl)
    if in_place:
        return _render_edited(kustomization_file, images, patches, edits or {}, kubectl)
    top = (root or _git_top(source_dir)).resolve()
    relative = source_dir.resolve().relative_to(top)
    with tempfile.TemporaryDirectory(prefix="kustomize-") as temp:
        copy = Path(temp) / "src"
        shutil.copytree(top, copy, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        edited = copy / relative / kustomization_file.name
        return _render_edited(edited, images, patches, edits or {}, kubectl)


def _render_edited(
    kustomization_file: Path,
    images: Sequence[str],
    patches: Sequence[dict[str, Any]],
    edits: dict[str, Any],
    kubectl: str | None,
) -> list[dict[str, Any]]:
    loaded = yaml.safe_load(kustomization_file.read_text()) or {}
    if not isinstance(loaded, dict):
        raise KustomizeError(f"{kustomization_file}: not a mapping")
    kustomization = append_patches(set_images(loaded, images), patches)
    for key, value in edits.items():
        if isinstance(value, dict):
            kustomization[key] = {**(kustomization.get(key) or {}), **value}
        else:
            kustomization[key] = value
    kustomization_file.write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return run_kustomize(kustomization_file.parent, kubectl)
