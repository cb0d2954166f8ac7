"""Rendering a production-shaped monorepo served over smart HTTP, at its targetRevision, with
a pin added the way preflight checks it: what the repo-server would hand Argo CD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.adapters.gitsource import GitSources
from pipeline.adapters.sources import SourceRenderer
from pipeline.errors import KustomizeError, SourceUnavailable
from pipeline.services.githttp import GitServer, publish, run_git
from tests.fixtures.monorepo import SERVICES, Monorepo, write_monorepo

pytestmark = pytest.mark.integration
IMAGE = "registry.example.com/acme/platform"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Monorepo, GitServer]]:
    repo = write_monorepo(tmp_path / "gitops", IMAGE)
    server = GitServer(tmp_path / "served").start()
    (tmp_path / "served").mkdir(exist_ok=True)
    publish(repo.path, server.root, "platform-gitops")
    yield repo, server
    server.stop()


def _images(objects: list[dict], name: str) -> list[str]:
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == name:
            return [c["image"] for c in obj["spec"]["template"]["spec"]["containers"]]
    raise AssertionError(f"no Deployment {name}")


def test_every_service_renders_with_its_real_objects(
    served: tuple[Monorepo, GitServer], tmp_path: Path
) -> None:
    repo, server = served
    renderer = SourceRenderer(GitSources(tmp_path / "cache"))
    url = server.repo_url("platform-gitops")
    for svc in SERVICES:
        source = {"repoURL": url, "targetRevision": "develop", "path": repo.overlay(svc)}
        rendered = renderer.render(source)
        kinds = sorted({o["kind"] for o in rendered.objects})
        assert {"Service", "HorizontalPodAutoscaler", "NetworkPolicy", "DestinationRule"} <= set(
            kinds
        )
        assert rendered.source_type == "Kustomize"
        namespaces = {o["metadata"].get("namespace") for o in rendered.objects}
        assert namespaces == {repo.services[svc].namespace}
        # the trap: the overlay rewrites the canary to the stable tag
        assert _images(rendered.objects, f"{svc}-api-canary") == [f"{IMAGE}:{svc}-api-dev-latest"]


def test_a_pin_through_kustomize_images_reaches_every_container_of_that_name(
    served: tuple[Monorepo, GitServer], tmp_path: Path
) -> None:
    repo, server = served
    renderer = SourceRenderer(GitSources(tmp_path / "cache"))
    source = {
        "repoURL": server.repo_url("platform-gitops"),
        "targetRevision": "develop",
        "path": repo.overlay("auth"),
    }
    rendered = renderer.render(source, images=[f"{IMAGE}@{DIGEST}"])
    # `kustomize edit set image` replaces the overlay's same-name entry whole (its newTag is
    # gone), and an images entry matches every container of that name: stable is pinned too
    assert _images(rendered.objects, "auth-api-canary") == [f"{IMAGE}@{DIGEST}"]
    assert _images(rendered.objects, "auth-api") == [f"{IMAGE}@{DIGEST}"]
    # the export in the cache is untouched by the edit
    plain = renderer.render(source)
    assert _images(plain.objects, "auth-api") == [f"{IMAGE}:auth-api-dev-latest"]


def test_renders_the_target_revision_not_the_working_tree(
    served: tuple[Monorepo, GitServer], tmp_path: Path
) -> None:
    repo, _ = served
    overlay = repo.path / repo.overlay("auth") / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("newTag: auth-api-dev-latest", "newTag: x"))
    source = {"repoURL": str(repo.path), "targetRevision": "develop", "path": repo.overlay("auth")}
    rendered = SourceRenderer(GitSources(tmp_path / "cache")).render(source)
    assert _images(rendered.objects, "auth-api") == [f"{IMAGE}:auth-api-dev-latest"]
    assert rendered.commit == run_git("rev-parse", "develop", cwd=repo.path).strip()


def test_what_cannot_be_rendered_says_why(
    served: tuple[Monorepo, GitServer], tmp_path: Path
) -> None:
    repo, server = served
    renderer = SourceRenderer(GitSources(tmp_path / "cache"))
    url = server.repo_url("platform-gitops")
    with pytest.raises(SourceUnavailable, match="config management plugin"):
        renderer.render({"repoURL": url, "path": "x", "plugin": {"name": "cdk8s"}})
    with pytest.raises(SourceUnavailable, match="does not exist at this revision"):
        renderer.render({"repoURL": url, "targetRevision": "develop", "path": "apps/nope"})
    with pytest.raises(SourceUnavailable, match="outside the repository"):
        renderer.render({"repoURL": url, "targetRevision": "develop", "path": "../../etc"})
    broken = repo.path / repo.overlay("auth") / "kustomization.yaml"
    broken.write_text("resources: [../../missing]\n")
    run_git("commit", "-qam", "break auth", cwd=repo.path)
    run_git("branch", "-f", "develop", "main", cwd=repo.path)
    publish(repo.path, server.root, "platform-gitops")
    with pytest.raises(KustomizeError) as e:
        renderer.render({"repoURL": url, "targetRevision": "develop", "path": repo.overlay("auth")})
    assert e.value.exit_code == 6


def test_only_what_the_render_reads_is_exported(
    served: tuple[Monorepo, GitServer], tmp_path: Path
) -> None:
    repo, server = served
    sources = GitSources(tmp_path / "cache")
    renderer = SourceRenderer(sources)
    url = server.repo_url("platform-gitops")
    auth = renderer.render(
        {"repoURL": url, "targetRevision": "develop", "path": repo.overlay("auth")}
    )
    tree = sources.tree(url, auth.commit, repo.overlay("auth"))
    assert (tree / "apps/auth/base/deployment.yaml").is_file()
    assert not (tree / "apps/users").exists() and not (tree / "argocd").exists()
    renderer.render({"repoURL": url, "targetRevision": "develop", "path": repo.overlay("users")})
    assert (tree / "apps/users/base/service.yaml").is_file()
    assert not (tree / "services").exists()
