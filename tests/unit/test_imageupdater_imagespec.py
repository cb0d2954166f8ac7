"""image-list entries: reference 6, vectors 1-10."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.imagespec import ImageSpec, parse_image_list, parse_image_spec
from pipeline.errors import UsageError

HEX = "a" * 64


@pytest.mark.parametrize(
    ("entry", "alias", "registry", "name", "tag", "digest"),
    [
        ("jannfis/test-image:0.1", "", "", "jannfis/test-image", "0.1", ""),  # 1
        ("gcr.io/jannfis/test-image:0.1", "", "gcr.io", "jannfis/test-image", "0.1", ""),  # 2
        ("docker.io/jannfis/test-image:0.1", "", "docker.io", "jannfis/test-image", "0.1", ""),
        (
            "gcr.io/jannfis/test-image@sha256:abcde",
            "",
            "gcr.io",
            "jannfis/test-image",
            "",
            "sha256:abcde",
        ),  # 4
        (
            f"gcr.io/jannfis/test-image:latest-bookworm@sha256:{HEX}",
            "",
            "gcr.io",
            "jannfis/test-image",
            "latest-bookworm",
            f"sha256:{HEX}",
        ),  # 5
        (
            "jannfis/orig-image=gcr.io/jannfis/test-image:0.1",
            "jannfis/orig-image",
            "gcr.io",
            "jannfis/test-image",
            "0.1",
            "",
        ),  # 6
        (
            "classic-web=registry:5000/classic-web",
            "classic-web",
            "registry:5000",
            "classic-web",
            "",
            "",
        ),
        (
            "harbor.example.com/library/test-image:0.1",
            "",
            "harbor.example.com",
            "library/test-image",
            "0.1",
            "",
        ),
        ("library/test-image", "", "", "library/test-image", "", ""),  # 8
        ("nginx", "", "", "nginx", "", ""),
        ("docker.io/library/nginx:1.21", "", "docker.io", "nginx", "1.21", ""),
        ("web=ghcr.io/org/app:^1.0", "web", "ghcr.io", "org/app", "^1.0", ""),  # legacy splitter
        ("app=org/app:>=1.0 <2.0", "app", "", "org/app", ">=1.0 <2.0", ""),
        ("app=org/app:~1.2", "app", "", "org/app", "~1.2", ""),
    ],
)
def test_parse_image_spec(
    entry: str, alias: str, registry: str, name: str, tag: str, digest: str
) -> None:
    spec = parse_image_spec(entry)
    assert (spec.alias, spec.registry, spec.name, spec.tag, spec.digest) == (
        alias,
        registry,
        name,
        tag,
        digest,
    )


def test_explicit_docker_hub_round_trips() -> None:
    """Vector 3."""
    spec = parse_image_spec("docker.io/jannfis/test-image:0.1")
    assert spec.full_name_with_tag == "docker.io/jannfis/test-image:0.1"


def test_digest_only_strings() -> None:
    """Vector 4: tag-with-digest defaults the tag to 'latest'."""
    spec = parse_image_spec("gcr.io/jannfis/test-image@sha256:abcde")
    assert spec.tag_with_digest == "latest@sha256:abcde"
    assert spec.full_name_with_tag == "gcr.io/jannfis/test-image@sha256:abcde"


def test_image_list_three_images() -> None:
    """Vector 9."""
    specs = parse_image_list(
        "web=docker.io/library/nginx:1.21,docker.io/library/postgres:14,api=quay.io/myorg/api:v2.0"
    )
    assert [s.alias for s in specs] == ["web", "", "api"]
    assert [s.full_name for s in specs] == [
        "docker.io/nginx",
        "docker.io/postgres",
        "quay.io/myorg/api",
    ]


def test_image_list_whitespace_and_empty_entries() -> None:
    """Vector 10."""
    specs = parse_image_list(
        "  web = docker.io/library/nginx:1.21  ,  api = quay.io/myorg/api:v2.0  "
    )
    assert [(s.alias, s.tag) for s in specs] == [("web", "1.21"), ("api", "v2.0")]
    assert [s.name for s in parse_image_list("a,,b")] == ["a", "b"]
    assert parse_image_list("  =docker.io/library/nginx:1.21")[0].alias == ""


def test_empty_image_name_is_an_error() -> None:
    with pytest.raises(UsageError, match="empty image name"):
        parse_image_list("web=")


def test_registry_ref_normalises_for_the_registry_api() -> None:
    ref = parse_image_spec("canary=nginx:1.0").registry_ref()
    assert (ref.registry, ref.repository) == ("docker.io", "library/nginx")
    local = parse_image_spec("canary=127.0.0.1:5000/demo:main").registry_ref()
    assert (local.registry, local.repository) == ("127.0.0.1:5000", "demo")


def test_strict_repository_match() -> None:
    a, b = parse_image_spec("x/bar"), parse_image_spec("docker.io/x/bar")
    assert not a.same_repository(b)
    assert a.same_repository(ImageSpec("other", "", "x/bar", "1.0"))
    assert parse_image_spec("web/x=a/b").annotation_alias == "web_x"
