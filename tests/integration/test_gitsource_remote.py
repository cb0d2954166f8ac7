"""Sources at their targetRevision from a git server on loopback speaking smart HTTP, as a
hosted remote would: resolve, fetch, export the commit (never a working tree), credentials
from Argo CD-style Secrets, and clear errors for what cannot be fetched."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.gitsource import GitSources
from pipeline.core.repositories import credentials_from_secrets
from pipeline.errors import SourceUnavailable
from pipeline.services.githttp import GitServer, publish, run_git

pytestmark = pytest.mark.integration


def _commit(work: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    run_git("add", "-A", cwd=work)
    run_git("commit", "-q", "-m", message, cwd=work)
    return run_git("rev-parse", "HEAD", cwd=work).strip()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    run_git("init", "-q", "-b", "main", cwd=work)
    run_git("config", "user.email", "dev@example.com", cwd=work)
    run_git("config", "user.name", "dev", cwd=work)
    return work


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    srv = GitServer(root).start()
    yield srv
    srv.stop()


def test_branch_tag_and_commit_resolve_and_export_that_commit(
    work: Path, server: GitServer, tmp_path: Path
) -> None:
    first = _commit(work, {"apps/a/config.yaml": "v: 1\n"}, "one")
    run_git("tag", "-a", "v1", "-m", "release", cwd=work)
    run_git("checkout", "-q", "-b", "develop", cwd=work)
    second = _commit(work, {"apps/a/config.yaml": "v: 2\n"}, "two")
    publish(work, server.root, "gitops")
    url = server.repo_url("gitops")
    sources = GitSources(tmp_path / "cache")

    assert sources.resolve(url, "develop").commit == second
    assert sources.resolve(url, "main").commit == first
    assert sources.resolve(url, "v1").commit == first  # annotated tag: peeled
    assert sources.resolve(url, first).commit == first
    assert sources.resolve(url, first[:10]).commit == first

    tree = sources.tree(url, second)
    assert (tree / "apps/a/config.yaml").read_text() == "v: 2\n"
    assert not (tree / ".git").exists()
    assert (sources.tree(url, first) / "apps/a/config.yaml").read_text() == "v: 1\n"

    third = _commit(work, {"apps/a/config.yaml": "v: 3\n"}, "three")
    publish(work, server.root, "gitops")
    assert sources.resolve(url, "develop").commit == third
    assert (sources.tree(url, third) / "apps/a/config.yaml").read_text() == "v: 3\n"
    assert (tree / "apps/a/config.yaml").read_text() == "v: 2\n"  # old export untouched


def test_warm_tree_runs_no_git_fetch(work: Path, server: GitServer, tmp_path: Path) -> None:
    commit = _commit(work, {"a.yaml": "x: 1\n"}, "one")
    publish(work, server.root, "gitops")
    url = server.repo_url("gitops")
    GitSources(tmp_path / "cache").tree(url, commit)
    warm = GitSources(tmp_path / "cache")
    warm.tree(url, warm.resolve(url, "main").commit)
    assert warm.commands == ["ls-remote"]


def test_unknown_revision_is_named(work: Path, server: GitServer, tmp_path: Path) -> None:
    _commit(work, {"a.yaml": "x: 1\n"}, "one")
    publish(work, server.root, "gitops")
    with pytest.raises(SourceUnavailable, match="Unable to resolve 'release-9' to a commit SHA"):
        GitSources(tmp_path / "cache").resolve(server.repo_url("gitops"), "release-9")


def test_missing_repository_and_unreachable_server(server: GitServer, tmp_path: Path) -> None:
    sources = GitSources(tmp_path / "cache", timeout=20)
    with pytest.raises(SourceUnavailable) as missing:
        sources.resolve(server.repo_url("nope"), "main")
    assert missing.value.exit_code == 6
    with pytest.raises(SourceUnavailable) as unreachable:
        sources.resolve("http://127.0.0.1:9/gitops.git", "main")
    assert "not reachable" in unreachable.value.hint


def _creds_secret(url: str, password: str) -> dict[str, object]:
    data = {"url": url, "username": "ci", "password": password}
    return {
        "metadata": {
            "name": "gitops-creds",
            "namespace": "argocd",
            "labels": {"argocd.argoproj.io/secret-type": "repo-creds"},
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_private_repository_needs_the_secret_and_never_shows_it(work: Path, tmp_path: Path) -> None:
    root = tmp_path / "private"
    root.mkdir()
    server = GitServer(root, username="ci", password="s3cret-pw").start()
    try:
        commit = _commit(work, {"a.yaml": "x: 1\n"}, "one")
        publish(work, root, "gitops")
        url = server.repo_url("gitops")

        with pytest.raises(SourceUnavailable) as denied:
            GitSources(tmp_path / "c1").resolve(url, "main")
        assert "repo-creds Secret" in denied.value.hint

        secrets = [_creds_secret(server.url, "s3cret-pw")]
        sources = GitSources(
            tmp_path / "c2", credentials=lambda u: credentials_from_secrets(u, secrets)
        )
        assert sources.resolve(url, "main").commit == commit
        assert (sources.tree(url, commit) / "a.yaml").exists()

        wrong = [_creds_secret(server.url, "wrong-pw")]
        with pytest.raises(SourceUnavailable) as refused:
            GitSources(
                tmp_path / "c3", credentials=lambda u: credentials_from_secrets(u, wrong)
            ).resolve(url, "main")
        text = f"{refused.value.message} {refused.value.hint}"
        assert "refused" in text and "wrong-pw" not in text and "s3cret-pw" not in text
        for config in (tmp_path / "c2").rglob("config"):
            assert "s3cret-pw" not in config.read_text()
    finally:
        server.stop()


def test_mapped_local_clone_reads_the_target_branch_not_the_working_tree(
    work: Path, server: GitServer, tmp_path: Path
) -> None:
    _commit(work, {"apps/a.yaml": "v: committed\n"}, "one")
    run_git("checkout", "-q", "-b", "develop", cwd=work)
    pushed = _commit(work, {"apps/a.yaml": "v: develop\n"}, "two")
    publish(work, server.root, "gitops")
    url = "https://github.com/org/gitops"

    clone = tmp_path / "clone"
    run_git("clone", "-q", "-b", "main", server.repo_url("gitops"), str(clone))
    (clone / "apps/a.yaml").write_text("v: uncommitted edit\n")  # the PR's working tree

    sources = GitSources(tmp_path / "cache", local={url: clone})
    revision = sources.resolve(url, "develop")
    assert revision.commit == pushed  # fetched from the clone's origin
    assert (sources.tree(url, revision.commit) / "apps/a.yaml").read_text() == "v: develop\n"
