"""Argo CD's rules for git repositories, as pure functions: URL normalization, which
``repository`` / ``repo-creds`` Secret gives a repository its credentials, and which ref a
``targetRevision`` names in ``git ls-remote`` output (argo-cd ``util/git/git.go``
``NormalizeGitURL``, ``util/db/repository_secrets.go`` ``getRepositoryCredentialIndex``,
``util/git/client.go`` ``LsRemote``). ``pipeline/adapters/gitsource.py`` runs git with them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
SHA = re.compile(r"^[0-9a-fA-F]{40}$")
_SSH = re.compile(r"^(ssh://)?([^/:]*?)@[^@]+$")  # util/git IsSSHURL


@dataclass(frozen=True)
class RepoCredentials:
    """What a repository or repo-creds Secret (or the CI environment) gives git."""

    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    ssh_private_key: str = field(default="", repr=False)
    insecure: bool = False
    source: str = ""  # e.g. "repository Secret argocd/gitops", never the secret itself

    def __repr__(self) -> str:
        return f"RepoCredentials(username={self.username!r}, source={self.source!r})"

    __str__ = __repr__


CredentialsFor = Callable[[str], RepoCredentials | None]


def is_ssh_url(url: str) -> bool:
    return bool(_SSH.match(url))


def normalize_git_url(url: str) -> str:
    """Argo CD's ``NormalizeGitURL``: the key by which repositories and credentials match."""
    repo = url.strip().lower()
    if is_ssh_url(repo) and not repo.startswith("ssh://"):
        repo = "ssh://" + repo.replace(":", "/", 1)
    repo = repo.removesuffix(".git")
    return repo.removeprefix("ssh://")


def same_url(left: str, right: str) -> bool:
    return normalize_git_url(left) == normalize_git_url(right)


def redact_url(url: str) -> str:
    """``url`` without any password written into it (``https://user:pw@host`` -> ``user@``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{netloc}"))


def _field(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not value:
        return ""
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def credentials_from_secrets(repo_url: str, secrets: Iterable[Mapping[str, Any]]) -> (
    RepoCredentials | None
):  # fmt: skip
    """The credentials Argo CD would use for ``repo_url`` among Secrets of its namespace:
    the ``repository`` Secret of the same URL, else the longest-prefix ``repo-creds``."""
    wanted = normalize_git_url(repo_url)
    best: tuple[int, RepoCredentials] | None = None
    for secret in secrets:
        meta = secret.get("metadata") or {}
        kind = (meta.get("labels") or {}).get(SECRET_TYPE_LABEL)
        data = secret.get("data") or {}
        url = _field(data, "url")
        if kind not in ("repository", "repo-creds") or not url:
            continue
        if _field(data, "type") not in ("", "git"):
            continue
        creds = RepoCredentials(
            username=_field(data, "username"),
            password=_field(data, "password"),
            bearer_token=_field(data, "bearerToken"),
            ssh_private_key=_field(data, "sshPrivateKey"),
            insecure=_field(data, "insecure") == "true",
            source=f"{kind} Secret {meta.get('namespace', '')}/{meta.get('name', '')}",
        )
        key = normalize_git_url(url)
        if kind == "repository" and key == wanted:
            return creds
        if kind == "repo-creds" and wanted.startswith(key) and (best is None or len(key) > best[0]):
            best = (len(key), creds)
    return best[1] if best else None


def env_credentials(env: Mapping[str, str]) -> RepoCredentials | None:
    """A token from the CI environment: ``PIPELINE_GIT_TOKEN`` (any host), as GitHub Actions'
    ``x-access-token`` basic-auth user; ``PIPELINE_GIT_USERNAME`` overrides the user."""
    token = env.get("PIPELINE_GIT_TOKEN", "")
    if not token:
        return None
    user = env.get("PIPELINE_GIT_USERNAME", "") or "x-access-token"
    return RepoCredentials(username=user, password=token, source="PIPELINE_GIT_TOKEN")


@dataclass(frozen=True)
class Revision:
    """What a ``targetRevision`` resolved to, and how."""

    repo_url: str
    revision: str
    commit: str
    ref: str  # the ref it matched, "" for a commit given as such


def pick_ref(refs: Mapping[str, str], revision: str) -> tuple[str, str] | None:
    """(ref, commit) for ``revision`` among ``ls-remote`` output, in the repo-server's order:
    HEAD, a full ref, a branch, a tag (peeled when annotated)."""
    if revision in ("", "HEAD"):
        return ("HEAD", refs["HEAD"]) if "HEAD" in refs else None
    candidates = (revision, f"refs/heads/{revision}", f"refs/tags/{revision}")
    for ref in candidates:
        if ref in refs:
            return ref, refs.get(ref + "^{}", refs[ref])
    return None


def parse_ls_remote(text: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    for line in text.splitlines():
        sha, _, ref = line.partition("\t")
        if ref and SHA.match(sha):
            refs[ref.strip()] = sha.lower()
    return refs
