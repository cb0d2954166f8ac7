"""Test vector 34 (``Test_mergeKustomizeOverride``, reference section 6) and the Helm override
merge (vector 36): pipeline/core/imageupdater/overrides.py."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.overrides import merge_helm_override, merge_kustomize_override

D_9173 = "sha256:9173" + "a" * 60
D_1A2F = "sha256:1a2f" + "b" * 60


def test_vector_34_digest_replaces_a_tag_and_an_equal_digest_keeps_the_old_string() -> None:
    existing = ["nginx:latest", f"bitnami/nginx:latest@{D_1A2F}"]
    new = [f"nginx:latest@{D_9173}", f"bitnami/nginx@{D_1A2F}"]
    assert merge_kustomize_override(existing, new) == [
        f"nginx:latest@{D_9173}",
        f"bitnami/nginx:latest@{D_1A2F}",
    ]


def test_vector_34_explicit_and_implicit_docker_io_are_the_same_image() -> None:
    existing = ["docker.io/library/nginx:1.0.0"]
    assert merge_kustomize_override(existing, ["nginx:1.0.1"]) == ["nginx:1.0.1"]


def test_vector_34_other_registries_are_other_images() -> None:
    existing = ["quay.io/nginx:latest"]
    assert merge_kustomize_override(existing, ["docker.io/nginx:latest"]) == [
        "quay.io/nginx:latest",
        "docker.io/nginx:latest",
    ]


@pytest.mark.parametrize(
    ("existing", "new", "merged"),
    [
        (["nginx:1.0"], ["nginx:1.0"], ["nginx:1.0"]),  # same tag: kept
        (["nginx"], ["nginx:1.0"], ["nginx:1.0"]),  # no tag yet: replaced
        (["nginx:1.0"], ["nginx"], ["nginx:1.0"]),  # a tagless update never replaces
        ([f"nginx@{D_1A2F}"], [f"nginx:2.0@{D_1A2F}"], [f"nginx@{D_1A2F}"]),
        (["a=gcr.io/x/app:1"], ["b=gcr.io/x/app:2"], ["b=gcr.io/x/app:2"]),  # name, not alias
        ([], ["nginx:1.0", "redis:7"], ["nginx:1.0", "redis:7"]),
    ],
)
def test_merge_edge_cases(existing: list[str], new: list[str], merged: list[str]) -> None:
    assert merge_kustomize_override(existing, new) == merged


def test_vector_36_helm_parameters_merged_by_name_and_sorted() -> None:
    existing = [
        {"name": "replicas", "value": "2", "forcestring": True},
        {"name": "image.tag", "value": "1.2.2", "forcestring": True},
    ]
    new = [
        {"name": "image.name", "value": "nginx", "forcestring": True},
        {"name": "image.tag", "value": "1.2.3", "forcestring": True},
    ]
    assert merge_helm_override(existing, new) == [
        {"name": "image.name", "value": "nginx", "forcestring": True},
        {"name": "image.tag", "value": "1.2.3", "forcestring": True},
        {"name": "replicas", "value": "2", "forcestring": True},
    ]
