"""Fetch and render an Application source, as Argo CD's repo-server does.

``spec.source.repoURL`` is a local path or ``file://`` URL of a git repository (the sandbox has
no network). ``targetRevision`` (branch, tag, SHA, ``HEAD`` or empty) is resolved to a commit
SHA with git; the tree at that SHA is exported to the work dir and rendered with
:func:`pipeline.adapters.kustomize.render` applying ``spec.source.kustomize`` (reference C.1,
C.2; repo-server ``util/kustomize/kustomize.go``: images, patches, namePrefix, nameSuffix,
commonLabels, commonAnnotations, namespace). Manifests are cached by (SHA, source), like the
repo-server's manifest cache; a hard refresh bypasses the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from pipeline.adapters.kustomize import find_kustomization, render
from pipeline.errors import KustomizeError

Obj = dict[str, Any]


class SourceError(Exception):
    """The source could not be fetched or rendered (ComparisonError in the app status)."""


@dataclass(frozen=True)
class Rendered:
    revision: str
    source_type: str  # "Kustomize" or "Directory"
    objects: list[Obj]


def repo_path(repo_url: str) -> Path:
    if repo_url.startswith("file://"):
        path = Path(unquote(urlparse(repo_url).path))
    else:
        path = Path(repo_url)
    if not path.is_dir():
        raise SourceError(f"repository not found: {repo_url}")
    return path


def _git(repo: Path, *args: str) -> bytes:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if proc.returncode != 0:
        raise SourceError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def resolve_revision(repo_url: str, target_revision: str) -> str:
    """The commit SHA ``target_revision`` names (empty and ``HEAD`` mean the checked-out HEAD)."""
    repo = repo_path(repo_url)
    revision = target_revision or "HEAD"
    try:
        return (
            _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
            .decode()
            .strip()
        )
    except SourceError as e:
        raise SourceError(f"unable to resolve '{revision}' to a commit SHA in {repo_url}") from e


def _kustomize_edits(kustomize: Obj) -> dict[str, Any]:
    edits: dict[str, Any] = {}
    for field in ("namePrefix", "nameSuffix", "namespace"):
        if kustomize.get(field):
            edits[field] = kustomize[field]
    for field in ("commonLabels", "commonAnnotations"):
        if kustomize.get(field):
            edits[field] = dict(kustomize[field])
    return edits


class SourceRenderer:
    """Exports revisions under ``work_dir`` and renders them, with a manifest cache."""

    def __init__(self, work_dir: Path, kubectl: str | None = None) -> None:
        self._work_dir = Path(work_dir)
        self._kubectl = kubectl
        self._lock = threading.Lock()
        self._cache: dict[str, Rendered] = {}

    def _export(self, repo_url: str, sha: str) -> Path:
        key = hashlib.sha256(f"{repo_url}@{sha}".encode()).hexdigest()[:16]
        target = self._work_dir / "repos" / key
        if not target.exists():
            archive = _git(repo_path(repo_url), "archive", "--format=tar", sha)
            partial = target.with_suffix(".partial")
            partial.mkdir(parents=True, exist_ok=True)
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(partial, filter="data")
            partial.rename(target)
        return target

    def render(self, source: Obj, revision: str | None = None, *, hard: bool = False) -> Rendered:
        """Render ``source`` at ``revision`` (default: its targetRevision)."""
        repo_url = str(source.get("repoURL", ""))
        sha = resolve_revision(repo_url, revision or str(source.get("targetRevision", "")))
        key = json.dumps([sha, source], sort_keys=True)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and not hard:
                return cached
            tree = self._export(repo_url, sha)
            app_path = (tree / str(source.get("path") or ".")).resolve()
            if not app_path.is_relative_to(tree.resolve()):
                raise SourceError(f"{source.get('path')}: app path is outside the repository")
            if not app_path.is_dir():
                raise SourceError(f"{source.get('path')}: app path does not exist")
            kustomize = source.get("kustomize") or {}
            try:
                objects = render(
                    app_path,
                    images=list(kustomize.get("images") or []),
                    patches=list(kustomize.get("patches") or []),
                    edits=_kustomize_edits(kustomize),
                    root=tree,
                    kubectl=self._kubectl,
                )
            except KustomizeError as e:
                raise SourceError(str(e)) from e
            source_type = "Kustomize" if find_kustomization(app_path) else "Directory"
            result = Rendered(sha, source_type, objects)
            self._cache[key] = result
            return result
