"""``render`` with the stock ``kubectl kustomize``: reference C.4's experiments, reproduced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.kustomize import render
from pipeline.errors import KustomizeError, SourceUnavailable
from pipeline.sandbox.sample import SampleRepo, create_sample_repo

D = "sha256:" + "d" * 64
REPO = "docker.io/mng990/eco2"


def images_by_name(objects: list[dict[str, Any]]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]["containers"][0]["image"]
        for o in objects
    }


def canary_image_patch(image: str) -> dict[str, Any]:
    return {
        "patch": (
            '[{"op": "replace", "path": "/spec/template/spec/containers/0/image",'
            f' "value": "{image}"}}]'
        ),
        "target": {"group": "apps", "kind": "Deployment", "name": "auth-api-canary"},
    }


@pytest.fixture
def user_overlay(tmp_path: Path) -> SampleRepo:
    """The user's overlay: ``images: [{name: docker.io/mng990/eco2, newTag: ...latest}]``."""
    return create_sample_repo(tmp_path, registry="docker.io/mng990", shared_name_override=True)


@pytest.fixture
def plain_overlay(tmp_path: Path) -> SampleRepo:
    return create_sample_repo(tmp_path, registry="docker.io/mng990")


def test_row0_shared_name_entry_retags_the_canary(user_overlay: SampleRepo) -> None:
    assert images_by_name(render(user_overlay.path / "overlays/dev")) == {
        "auth-api": f"{REPO}:auth-api-dev-latest",
        "auth-api-canary": f"{REPO}:auth-api-dev-latest",
    }


def test_row1_images_on_the_shared_name_pins_stable_too(user_overlay: SampleRepo) -> None:
    objects = render(user_overlay.path / "overlays/dev", images=[f"{REPO}={REPO}@{D}"])
    assert images_by_name(objects) == {"auth-api": f"{REPO}@{D}", "auth-api-canary": f"{REPO}@{D}"}


def test_row2_patch_is_overwritten_by_images_in_the_same_layer(user_overlay: SampleRepo) -> None:
    objects = render(
        user_overlay.path / "overlays/dev", patches=[canary_image_patch(f"{REPO}@{D}")]
    )
    assert images_by_name(objects) == {
        "auth-api": f"{REPO}:auth-api-dev-latest",
        "auth-api-canary": f"{REPO}:auth-api-dev-latest",
    }


def test_row3_patch_with_an_unmatched_spelling_survives(user_overlay: SampleRepo) -> None:
    pinned = f"index.docker.io/mng990/eco2@{D}"
    objects = render(user_overlay.path / "overlays/dev", patches=[canary_image_patch(pinned)])
    assert images_by_name(objects) == {
        "auth-api": f"{REPO}:auth-api-dev-latest",
        "auth-api-canary": pinned,
    }


def test_row4b_tag_qualified_name_alone_pins_only_the_canary(plain_overlay: SampleRepo) -> None:
    objects = render(
        plain_overlay.path / "overlays/dev", images=[f"{REPO}:auth-api-dev-canary={REPO}@{D}"]
    )
    assert images_by_name(objects) == {
        "auth-api": f"{REPO}:auth-api-dev-latest",
        "auth-api-canary": f"{REPO}@{D}",
    }


def test_the_source_tree_is_never_modified(user_overlay: SampleRepo) -> None:
    overlay = user_overlay.path / "overlays/dev/kustomization.yaml"
    before = overlay.read_text()
    render(user_overlay.path / "overlays/dev", images=[f"{REPO}={REPO}@{D}"])
    assert overlay.read_text() == before


def test_edits_set_plain_kustomization_fields(plain_overlay: SampleRepo) -> None:
    objects = render(
        plain_overlay.path / "overlays/dev",
        edits={"namePrefix": "x-", "commonLabels": {"team": "id"}},
    )
    assert sorted(o["metadata"]["name"] for o in objects) == ["x-auth-api", "x-auth-api-canary"]
    assert all(o["metadata"]["labels"]["team"] == "id" for o in objects)


def test_plain_directory_renders_its_yaml_files(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    (tmp_path / "a.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert [o["metadata"]["name"] for o in render(tmp_path)] == ["a", "b", "c"]


def test_kustomize_failure_carries_kubectls_stderr(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(KustomizeError) as info:
        render(tmp_path)
    assert "missing.yaml" in info.value.stderr
    assert "missing.yaml" in str(info.value)


def test_images_without_a_kustomization_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    with pytest.raises(KustomizeError, match="no kustomization"):
        render(tmp_path, images=["a:b"])


def test_a_kustomize_that_never_finishes_is_an_unavailable_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kustomize fetches remote bases itself; one that does not answer must not hang the run."""
    import pipeline.adapters.kustomize as kustomize

    hanging = tmp_path / "kubectl"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")  # stands for a fetch that never answers
    hanging.chmod(0o755)
    monkeypatch.setattr(kustomize, "KUSTOMIZE_TIMEOUT", 0.5)
    with pytest.raises(SourceUnavailable, match="did not finish within"):
        kustomize.run_kustomize(tmp_path, kubectl=str(hanging))
