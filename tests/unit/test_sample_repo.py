"""The generated sample GitOps repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pipeline.adapters.kustomize import render
from pipeline.sandbox.sample import create_sample_repo, sample_applicationset

UPDATER = "argocd-image-updater.argoproj.io"


def test_sample_repo_shape(tmp_path: Path) -> None:
    sample = create_sample_repo(tmp_path, registry="127.0.0.1:5000")
    assert sample.app_name == "dev-api-auth"
    assert sample.namespace == "auth"
    assert sample.stable_image == "127.0.0.1:5000/eco2:auth-api-dev-latest"
    assert sample.canary_image == "127.0.0.1:5000/eco2:auth-api-dev-canary"
    assert sample.selectors == {
        "stable": "app=auth-api,version=v1",
        "canary": "app=auth-api,version=v2",
    }
    status = subprocess.run(
        ["git", "-C", str(sample.path), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.stdout == ""
    assert (sample.context_dir / "Dockerfile").is_file()
    assert (sample.context_dir / "busybox").stat().st_size > 100_000


def test_rendered_deployments(tmp_path: Path) -> None:
    sample = create_sample_repo(tmp_path, registry="127.0.0.1:5000")
    objects = {o["metadata"]["name"]: o for o in render(sample.path / sample.overlay_path)}
    assert set(objects) == {"auth-api", "auth-api-canary"}
    canary = objects["auth-api-canary"]
    assert canary["metadata"]["namespace"] == "auth"
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["metadata"]["labels"] == {"app": "auth-api", "version": "v2"}
    container = canary["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == sample.canary_image
    assert container["imagePullPolicy"] == "Always"
    stable = objects["auth-api"]["spec"]["template"]["spec"]["containers"][0]
    assert stable["image"] == sample.stable_image


def test_application_manifest(tmp_path: Path) -> None:
    sample = create_sample_repo(tmp_path, registry="127.0.0.1:5000")
    app = sample.app_manifest
    assert app["metadata"]["annotations"] == {
        f"{UPDATER}/image-list": f"stable={sample.stable_image},canary={sample.canary_image}",
        f"{UPDATER}/stable.update-strategy": "digest",
        f"{UPDATER}/stable.pull-secret": "pullsecret:argocd/dockerhub-credentials",
        f"{UPDATER}/canary.update-strategy": "digest",
        f"{UPDATER}/canary.pull-secret": "pullsecret:argocd/dockerhub-credentials",
    }
    assert app["spec"]["source"] == {
        "repoURL": sample.path.resolve().as_uri(),
        "targetRevision": "HEAD",
        "path": "overlays/dev",
    }
    assert app["spec"]["destination"]["namespace"] == "auth"
    assert app["spec"]["syncPolicy"] == {
        "automated": {"prune": False, "selfHeal": True},
        "syncOptions": ["CreateNamespace=true"],
    }


def test_applicationset_template_matches_the_application(tmp_path: Path) -> None:
    sample = create_sample_repo(tmp_path, registry="127.0.0.1:5000")
    plain = sample_applicationset(sample)
    assert plain["spec"]["generators"] == [{"list": {"elements": [{"service": "auth"}]}}]
    assert "ignoreApplicationDifferences" not in plain["spec"]
    ignoring = sample_applicationset(sample, ignore_images=True)
    assert ignoring["spec"]["ignoreApplicationDifferences"] == [
        {"jsonPointers": ["/spec/source/kustomize/images"]}
    ]
