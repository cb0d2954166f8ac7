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

``kubectl kustomize`` gets KUSTOMIZE_TIMEOUT, cut short by the run's deadline when the caller
passes one (adapters/bounded.py): then it is killed with what it started, exit 11.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pipeline.adapters.bounded import Bound, RunDeadline
from pipeline.core.kustomize_edit import append_patches, set_images
from pipeline.errors import KustomizeError, SourceUnavailable, truncate
from pipeline.tools import kubectl_path

KUSTOMIZE_TIMEOUT = 120.0  # seconds for one `kubectl kustomize` (remote bases are fetched)
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


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


def run_kustomize(
    directory: Path, kubectl: str | None = None, deadline: RunDeadline | None = None
) -> list[dict[str, Any]]:
    """``kubectl kustomize <directory>`` with the stock kubectl; its stderr on failure."""
    if kubectl is None:
        kubectl = kubectl_path()
    command = [kubectl, "kustomize", str(directory)]
    try:
        done = Bound(KUSTOMIZE_TIMEOUT, deadline).run(
            command, what=f"rendering {directory}", waiting_on="`kubectl kustomize` did not finish",
            hint="a remote base or component that does not answer? kustomize fetches them "
            "itself; raise --timeout if it is only slow",
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(
            f"`{' '.join(command)}` did not finish within {KUSTOMIZE_TIMEOUT:.0f}s",
            hint="a remote base or component that does not answer? kustomize fetches them itself",
        ) from None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise KustomizeError(
            f"`{' '.join(command)}` exited {done.returncode}: {truncate(stderr)}",
            stderr=stderr,
            hint="fix the kustomization (run the same command locally to see the full error)",
        )
    return load_documents(done.stdout.decode(errors="replace"), f"kubectl kustomize {directory}")


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
    deadline: RunDeadline | None = None,
) -> list[dict[str, Any]]:
    """The manifests Argo CD would apply for a source at ``source_dir``.

    ``images``/``patches`` are ``spec.source.kustomize.images``/``patches``; ``edits`` sets
    plain kustomization fields the way Argo CD's ``namePrefix``, ``nameSuffix``,
    ``commonLabels``, ``commonAnnotations`` and ``namespace`` options do. Without any of them
    the source renders where it is. Otherwise the edit happens in a temporary copy of ``root``
    (default: the enclosing git work tree, which holds every ``../base`` the overlay may
    reference) unless ``in_place`` says ``source_dir`` is a throw-away export already.
    ``deadline``: the run's, which cuts ``kubectl kustomize`` short.
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
        return run_kustomize(source_dir, kubectl, deadline)
    if in_place:
        return _render_edited(kustomization_file, images, patches, edits or {}, kubectl, deadline)
    top = (root or _git_top(source_dir)).resolve()
    relative = source_dir.resolve().relative_to(top)
    with tempfile.TemporaryDirectory(prefix="kustomize-") as temp:
        copy = Path(temp) / "src"
        shutil.copytree(top, copy, ignore=shutil.ignore_patterns(".git"), symlinks=True)
        edited = copy / relative / kustomization_file.name
        return _render_edited(edited, images, patches, edits or {}, kubectl, deadline)


def _render_edited(
    kustomization_file: Path,
    images: Sequence[str],
    patches: Sequence[dict[str, Any]],
    edits: dict[str, Any],
    kubectl: str | None,
    deadline: RunDeadline | None = None,
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
    return run_kustomize(kustomization_file.parent, kubectl, deadline)
