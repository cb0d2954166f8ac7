"""Values written for the argocd write-back: reference 2.1 and vectors 24, 25, 31-33, 36."""

from __future__ import annotations

from typing import Any

from pipeline.core.imageupdater.imagespec import parse_image_spec
from pipeline.core.imageupdater.writeback import (
    HelmTarget,
    helm_parameters,
    kustomize_image_value,
    merge_helm_parameters,
    merge_kustomize_images,
)

D = "sha256:" + "1234567890abcdef" * 4


def test_kustomize_digest_value() -> None:
    """Vector 24."""
    spec = parse_image_spec("nginx=docker.io/library/nginx:latest-bookworm")
    assert (
        kustomize_image_value(spec, "latest-bookworm", D) == f"docker.io/nginx:latest-bookworm@{D}"
    )


def test_kustomize_keeps_docker_hub_short_when_written_short() -> None:
    spec = parse_image_spec("web=nginx:^1.0")
    assert kustomize_image_value(spec, "1.2.3") == "nginx:1.2.3"


def test_kustomize_with_original_name() -> None:
    """Vector 31."""
    spec = parse_image_spec("foobar=jannfis/foobar")
    value = kustomize_image_value(spec, "1.0.1", original_name="foobar")
    assert value == "foobar=jannfis/foobar:1.0.1"
    assert merge_kustomize_images(["foobar=jannfis/foobar:1.0.0"], value) == [value]


def test_kustomize_two_aliases_do_not_collide() -> None:
    """Vector 32."""
    existing = ["service-a=jannfis/foobar:tag-a", "service-b=jannfis/foobar:tag-b"]
    spec = parse_image_spec("a=jannfis/foobar")
    a = kustomize_image_value(spec, "tag-a", "sha256:digesta", "service-a")
    b = kustomize_image_value(spec, "tag-b", "sha256:digestb", "service-b")
    merged = merge_kustomize_images(merge_kustomize_images(existing, a), b)
    assert merged == [
        "service-a=jannfis/foobar:tag-a@sha256:digesta",
        "service-b=jannfis/foobar:tag-b@sha256:digestb",
    ]


def test_kustomize_match_rules() -> None:
    """Vector 33: names compared up to the first delimiter, delimiters must agree."""
    assert merge_kustomize_images(["foo=1"], "foo=2") == ["foo=2"]
    assert merge_kustomize_images(["foo:1"], "foo:2") == ["foo:2"]
    assert merge_kustomize_images(["foo@1"], "foo@2") == ["foo@2"]
    assert merge_kustomize_images(["foobar:2"], "foo:2") == ["foobar:2", "foo:2"]
    assert merge_kustomize_images(["foo=1"], "bar:1") == ["foo=1", "bar:1"]


def test_helm_name_and_tag() -> None:
    """Vector 36 values, and the digest form (tag@digest)."""
    spec = parse_image_spec("web=nginx")
    assert helm_parameters(spec, HelmTarget(), "1.2.3") == [
        {"name": "image.name", "value": "nginx", "forceString": True},
        {"name": "image.tag", "value": "1.2.3", "forceString": True},
    ]
    digest = helm_parameters(spec, HelmTarget(), "develop", D)
    assert digest[1] == {"name": "image.tag", "value": f"develop@{D}", "forceString": True}


def test_helm_spec_parameter() -> None:
    spec = parse_image_spec("web=ghcr.io/org/app")
    params = helm_parameters(spec, HelmTarget(image_spec="app.image"), "main", D)
    assert params == [
        {"name": "app.image", "value": f"ghcr.io/org/app:main@{D}", "forceString": True}
    ]


def test_helm_empty_tag_is_never_written() -> None:
    spec = parse_image_spec("web=nginx")
    assert [p["name"] for p in helm_parameters(spec, HelmTarget(), "")] == ["image.name"]


def test_helm_merge_by_name() -> None:
    existing: list[dict[str, Any]] = [
        {"name": "replicas", "value": "2"},
        {"name": "image.tag", "value": "old", "forceString": True},
    ]
    new = helm_parameters(parse_image_spec("web=nginx"), HelmTarget(), "develop", D)
    assert merge_helm_parameters(existing, new) == [
        {"name": "replicas", "value": "2"},
        {"name": "image.tag", "value": f"develop@{D}", "forceString": True},
        {"name": "image.name", "value": "nginx", "forceString": True},
    ]
    assert merge_helm_parameters(
        merge_helm_parameters(existing, new), new
    ) == merge_helm_parameters(existing, new)
