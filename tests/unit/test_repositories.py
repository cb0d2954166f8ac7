"""Repository URL normalization, credential Secret matching and ref picking, as Argo CD has them
(util/git NormalizeGitURL, util/db getRepositoryCredentialIndex, util/git LsRemote)."""

from __future__ import annotations

import base64

import pytest

from pipeline.core.repositories import (
    credentials_from_secrets,
    env_credentials,
    normalize_git_url,
    parse_ls_remote,
    pick_ref,
    redact_url,
    same_url,
)


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://github.com/Org/GitOps.git", "https://github.com/org/gitops"),
        ("https://github.com/org/gitops", "https://github.com/org/gitops"),
        ("  https://github.com/org/gitops.git ", "https://github.com/org/gitops"),
        ("git@github.com:org/gitops.git", "git@github.com/org/gitops"),
        ("ssh://git@github.com/org/gitops.git", "git@github.com/org/gitops"),
        ("http://127.0.0.1:8080/gitops.git", "http://127.0.0.1:8080/gitops"),
    ],
)
def test_normalize_git_url(url: str, normalized: str) -> None:
    assert normalize_git_url(url) == normalized


def test_scp_and_ssh_forms_are_the_same_repository() -> None:
    assert same_url("git@github.com:org/gitops.git", "ssh://git@github.com/org/gitops")
    assert not same_url("https://github.com/org/gitops", "https://github.com/org/gitops-2")


def _secret(name: str, kind: str, **data: str) -> dict[str, object]:
    return {
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": kind},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


SECRETS = [
    _secret("org-wide", "repo-creds", url="https://github.com/org", password="org-pw"),
    _secret("gitops-team", "repo-creds", url="https://github.com/org/gitops", password="team-pw"),
    _secret("exact", "repository", url="https://github.com/org/other.git", password="exact-pw"),
    _secret("helm", "repo-creds", url="https://github.com/org/gitops-x", type="helm"),
    _secret("unlabeled", "something-else", url="https://github.com/org/gitops", password="no"),
]


@pytest.mark.parametrize(
    ("repo", "source", "password"),
    [
        ("https://github.com/org/gitops.git", "repo-creds Secret argocd/gitops-team", "team-pw"),
        ("https://github.com/org/gitops-apps", "repo-creds Secret argocd/gitops-team", "team-pw"),
        ("https://github.com/org/infra", "repo-creds Secret argocd/org-wide", "org-pw"),
        ("https://github.com/ORG/other", "repository Secret argocd/exact", "exact-pw"),
    ],
)
def test_repository_secret_wins_then_longest_repo_creds_prefix(
    repo: str, source: str, password: str
) -> None:
    creds = credentials_from_secrets(repo, SECRETS)
    assert creds is not None
    assert (creds.source, creds.password) == (source, password)
    assert password not in repr(creds) and password not in str(creds)


def test_no_matching_secret() -> None:
    assert credentials_from_secrets("https://gitlab.com/org/gitops", SECRETS) is None


def test_env_token() -> None:
    creds = env_credentials({"PIPELINE_GIT_TOKEN": "t0k"})
    assert creds is not None and (creds.username, creds.password) == ("x-access-token", "t0k")
    assert env_credentials({}) is None


LS_REMOTE = (
    "1111111111111111111111111111111111111111\tHEAD\n"
    "1111111111111111111111111111111111111111\trefs/heads/main\n"
    "2222222222222222222222222222222222222222\trefs/heads/develop\n"
    "3333333333333333333333333333333333333333\trefs/tags/v1.0\n"
    "4444444444444444444444444444444444444444\trefs/tags/v1.0^{}\n"
    "5555555555555555555555555555555555555555\trefs/tags/light\n"
)


@pytest.mark.parametrize(
    ("revision", "ref", "commit"),
    [
        ("", "HEAD", "1" * 40),
        ("HEAD", "HEAD", "1" * 40),
        ("develop", "refs/heads/develop", "2" * 40),
        ("refs/heads/main", "refs/heads/main", "1" * 40),
        ("v1.0", "refs/tags/v1.0", "4" * 40),  # annotated: the peeled commit
        ("light", "refs/tags/light", "5" * 40),
    ],
)
def test_pick_ref(revision: str, ref: str, commit: str) -> None:
    assert pick_ref(parse_ls_remote(LS_REMOTE), revision) == (ref, commit)


def test_unknown_revision() -> None:
    assert pick_ref(parse_ls_remote(LS_REMOTE), "feature/x") is None


def test_redact_url() -> None:
    assert redact_url("https://bot:s3cret@github.com/org/x") == "https://bot@github.com/org/x"
    assert redact_url("https://github.com/org/x") == "https://github.com/org/x"
