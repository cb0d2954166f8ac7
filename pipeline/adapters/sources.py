"""Render an Application's ``spec.source`` as Argo CD's repo-server would: at the commit its
``targetRevision`` names, never a working tree, with ``spec.source.kustomize`` applied.

- Git sources with any repoURL Argo CD accepts (``https://``, ``http://``, ``ssh://``,
  ``git@host:path``, and a local path or ``file://`` URL of a git repository) are fetched by
  :class:`pipeline.adapters.gitsource.GitSources`.
- ``spec.source.kustomize`` (images, patches, namePrefix, nameSuffix, namespace, commonLabels,
  commonAnnotations) edits the kustomization at the app path (reference C.1, C.2;
  repo-server ``util/kustomize/kustomize.go``), plus the images and patches a caller adds
  (the pin being checked). Only the app directory is copied for the edit, beside the original
  in the cached export, so ``../base`` references resolve as in the repository.
- Sources that cannot be rendered here say so with a reason (:class:`SourceUnavailable`):
  Helm charts without a ``helm`` binary, config management plugins, multi-source
  Applications, an unreachable repository or an unknown revision.

Manifests are cached per (commit, source, extra edits), like the repo-server's manifest cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.bounded import RunDeadline
from pipeline.adapters.gitsource import GitSources
from pipeline.adapters.kustomize import find_kustomization, render
from pipeline.core.repositories import CredentialsFor
from pipeline.errors import SourceUnavailable

Obj = dict[str, Any]


@dataclass(frozen=True)
class RenderedSource:
    repo_url: str
    target_revision: str
    commit: str
    source_type: str  # "Kustomize" or "Directory"
    objects: list[Obj]


def kustomize_edits(kustomize: Obj) -> dict[str, Any]:
    """The plain kustomization fields Argo CD's ``spec.source.kustomize`` options set."""
    edits: dict[str, Any] = {}
    for name in ("namePrefix", "nameSuffix", "namespace"):
        if kustomize.get(name):
            edits[name] = kustomize[name]
    for name in ("commonLabels", "commonAnnotations"):
        if kustomize.get(name):
            edits[name] = dict(kustomize[name])
    return edits


def unrenderable(source: Obj) -> str:
    """Why this source cannot be rendered here, or "" when it can."""
    if source.get("chart") or source.get("helm"):
        if shutil.which("helm") is None:
            return "it is a Helm source and no helm binary is on PATH"
        return "it is a Helm source; rendering Helm sources is not implemented"
    if source.get("plugin"):
        return "it uses a config management plugin, which only Argo CD's repo-server can run"
    if not source.get("repoURL"):
        return "spec.source.repoURL is empty"
    return ""


def render_in_export(
    tree: Path,
    path: str,
    *,
    images: Sequence[str] = (),
    patches: Sequence[Obj] = (),
    edits: dict[str, Any] | None = None,
    kubectl: str | None = None,
    deadline: RunDeadline | None = None,
) -> tuple[str, list[Obj]]:
    """(source type, manifests) of ``path`` inside the read-only export ``tree``."""
    app = (tree / (path or ".")).resolve()
    if not app.is_relative_to(tree.resolve()):
        raise SourceUnavailable(f"spec.source.path {path!r} is outside the repository")
    if not app.is_dir():
        raise SourceUnavailable(
            f"spec.source.path {path!r} does not exist at this revision",
            hint="check spec.source.path and spec.source.targetRevision",
        )
    source_type = "Kustomize" if find_kustomization(app) else "Directory"
    if not (images or patches or edits):
        return source_type, render(app, kubectl=kubectl, deadline=deadline)
    scratch = Path(tempfile.mkdtemp(prefix=f".{app.name}-render-", dir=app.parent))
    try:
        shutil.copytree(app, scratch, symlinks=True, dirs_exist_ok=True)
        objects = render(
            scratch, images=images, patches=patches, edits=edits, kubectl=kubectl,
            in_place=True, deadline=deadline,
        )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return source_type, objects


class SourceRenderer:
    """Renders Application sources; one per process, shared by every render it does.
    ``kustomize`` runs within the git sources' deadline (the run's)."""

    def __init__(self, sources: GitSources, kubectl: str | None = None) -> None:
        self.sources = sources
        self.kubectl = kubectl
        self.deadline = sources.bound.deadline
        self._lock = threading.Lock()
        self._cache: dict[str, RenderedSource] = {}

    def render(
        self,
        source: Obj,
        *,
        images: Sequence[str] = (),
        patches: Sequence[Obj] = (),
        revision: str | None = None,
        hard: bool = False,
    ) -> RenderedSource:
        """Render ``source`` at ``revision`` (default its targetRevision), with ``images`` and
        ``patches`` added after the source's own ``kustomize`` ones (as a pin would be)."""
        why = unrenderable(source)
        if why:
            raise SourceUnavailable(f"{source.get('repoURL', '')}: cannot render here: {why}")
        repo_url = str(source["repoURL"])
        target = revision if revision is not None else str(source.get("targetRevision") or "")
        resolved = self.sources.resolve(repo_url, target)
        kustomize = source.get("kustomize") or {}
        all_images = [*(kustomize.get("images") or []), *images]
        all_patches = [*(kustomize.get("patches") or []), *patches]
        key = json.dumps([resolved.commit, source, all_images, all_patches], sort_keys=True)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and not hard:
            return cached
        tree = self.sources.tree(repo_url, resolved.commit, str(source.get("path") or "."))
        source_type, objects = render_in_export(
            tree,
            str(source.get("path") or "."),
            images=all_images,
            patches=all_patches,
            edits=kustomize_edits(kustomize),
            kubectl=self.kubectl,
            deadline=self.deadline,
        )
        result = RenderedSource(repo_url, target, resolved.commit, source_type, objects)
        with self._lock:
            self._cache[key] = result
        return result


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """``$PIPELINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/pipeline``, else ``~/.cache/pipeline``."""
    if env.get("PIPELINE_CACHE_DIR"):
        return Path(env["PIPELINE_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pipeline"


class RepositoryFiles:
    """The ``Sources`` port: renders, and writable workspaces of the repository for a fix plan
    to edit and render again before printing it."""

    def __init__(self, renderer: SourceRenderer) -> None:
        self._renderer = renderer

    def render(self, source: Obj) -> list[Obj]:
        return self._renderer.render(source).objects

    def workspace(self, source: Obj) -> Path:
        """A writable copy of every file of the repository at the source's commit; the caller
        removes it (``shutil.rmtree``)."""
        sources = self._renderer.sources
        repo_url = str(source.get("repoURL") or "")
        commit = sources.resolve(repo_url, str(source.get("targetRevision") or "")).commit
        tree = sources.tree(repo_url, commit)
        root = Path(tempfile.mkdtemp(prefix="pipeline-fix-"))
        shutil.copytree(tree, root, symlinks=True, dirs_exist_ok=True)
        (root / ".pipeline-exported").unlink(missing_ok=True)
        return root

    def render_in(self, root: Path, source: Obj) -> list[Obj]:
        """``source`` rendered inside a workspace, with its own ``kustomize`` options."""
        kustomize = source.get("kustomize") or {}
        _, objects = render_in_export(
            root,
            str(source.get("path") or "."),
            images=list(kustomize.get("images") or []),
            patches=list(kustomize.get("patches") or []),
            edits=kustomize_edits(kustomize),
            kubectl=self._renderer.kubectl,
            deadline=self._renderer.deadline,
        )
        return objects


def make_sources(
    cache_dir: Path,
    *,
    credentials: CredentialsFor | None = None,
    local: Mapping[str, Path] | None = None,
    kubectl: str | None = None,
    deadline: RunDeadline | None = None,
) -> RepositoryFiles:
    """One renderer (and its caches) for the whole run; ``deadline``: the run's, cutting
    every git and kustomize command short (kubefail.py ``Deadline``)."""
    sources = GitSources(cache_dir / "git", credentials=credentials, local=local, deadline=deadline)
    return RepositoryFiles(SourceRenderer(sources, kubectl))
