"""Fetch and render an Application source, as Argo CD's repo-server does.

The work is the product's own :class:`pipeline.adapters.sources.SourceRenderer` (so the
preflight and this controller see the same manifests): ``spec.source.repoURL`` may be any URL
Argo CD accepts (``https://`` or ``http://`` to a git server, ``ssh://``, ``git@host:path``)
or a local path / ``file://`` URL of a git repository; ``targetRevision`` (branch, tag, SHA,
``HEAD`` or empty) is resolved to a commit with ``git ls-remote``; the commit is exported from
a cached clone and rendered with ``spec.source.kustomize`` applied (reference C.1, C.2).
Credentials come from the ``repository`` / ``repo-creds`` Secrets of the Argo CD namespace,
matched as Argo CD matches them. Manifests are cached by (commit, source), like the
repo-server's manifest cache; a hard refresh bypasses the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.gitsource import GitSources
from pipeline.adapters.sources import SourceRenderer as ProductRenderer
from pipeline.core.repositories import SECRET_TYPE_LABEL, RepoCredentials, credentials_from_secrets
from pipeline.errors import KustomizeError, SourceUnavailable
from pipeline.sandbox.kubeclient import KubeClient

Obj = dict[str, Any]
ListSecrets = Callable[[], list[Obj]]


def repository_secrets(client: KubeClient, namespace: str) -> ListSecrets:
    """The Argo CD namespace's repository and repo-creds Secrets, read when asked, as the
    repo-server reads them (argo-cd util/db: label ``argocd.argoproj.io/secret-type``)."""

    def read() -> list[Obj]:
        items = client.list(
            f"/api/v1/namespaces/{namespace}/secrets",
            label_selector=f"{SECRET_TYPE_LABEL} in (repository,repo-creds)",
        ).get("items")
        return list(items or [])

    return read


class SourceError(Exception):
    """The source could not be fetched or rendered (ComparisonError in the app status)."""


@dataclass(frozen=True)
class Rendered:
    revision: str
    source_type: str  # "Kustomize" or "Directory"
    objects: list[Obj]


class SourceRenderer:
    """Renders sources for the controller; ``list_secrets`` returns the Argo CD namespace's
    Secrets labeled ``argocd.argoproj.io/secret-type`` (None: public repositories only)."""

    def __init__(
        self, work_dir: Path, kubectl: str | None = None, list_secrets: ListSecrets | None = None
    ) -> None:
        self._list_secrets = list_secrets
        self._sources = GitSources(Path(work_dir) / "git", credentials=self._credentials)
        self._renderer = ProductRenderer(self._sources, kubectl)

    def _credentials(self, repo_url: str) -> RepoCredentials | None:
        if self._list_secrets is None or repo_url.startswith(("/", "file://")):
            return None
        return credentials_from_secrets(repo_url, self._list_secrets())

    def resolve(self, repo_url: str, revision: str) -> str:
        """The commit ``revision`` names in ``repo_url`` now (the repo-server's ResolveRevision)."""
        try:
            return self._sources.resolve(repo_url, revision).commit
        except SourceUnavailable as e:
            raise SourceError(str(e)) from e

    def render(self, source: Obj, revision: str | None = None, *, hard: bool = False) -> Rendered:
        """Render ``source`` at ``revision`` (default: its targetRevision)."""
        try:
            rendered = self._renderer.render(source, revision=revision, hard=hard)
        except (SourceUnavailable, KustomizeError) as e:
            raise SourceError(str(e)) from e
        return Rendered(rendered.commit, rendered.source_type, rendered.objects)


__all__ = ["Rendered", "SourceError", "SourceRenderer", "repository_secrets"]
