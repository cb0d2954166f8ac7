"""The registry client against the real open registry, with images pushed by the real dockerd."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.adapters.builder import select_builder
from pipeline.adapters.registry import RegistryClient
from pipeline.core.build import BuildRequest, oci_labels
from pipeline.core.images import DOCKER_MANIFEST, parse_image_ref
from pipeline.errors import ManifestNotFound, TagMovedError
from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from tests.fixtures.services import BuildImage, write_busybox_context

pytestmark = pytest.mark.integration


def test_head_digest_is_the_pushed_digest_and_follows_the_tag(
    registry: Registry, build_image: BuildImage, tmp_path: Path
) -> None:
    ref = parse_image_ref(f"{registry.address}/open/moving:canary")
    first = build_image(write_busybox_context(tmp_path / "one", "first build"), str(ref))
    client = RegistryClient()

    info = client.head_digest(ref)
    assert info.digest == first
    assert info.media_type == DOCKER_MANIFEST
    assert info.size > 0

    second = build_image(write_busybox_context(tmp_path / "two", "second build"), str(ref))
    assert second != first
    assert client.head_digest(ref).digest == second
    # by digest, the old manifest is still there
    assert client.head_digest(ref.with_digest(first)).digest == first

    with pytest.raises(TagMovedError) as moved:
        client.confirm_digest(ref, first)
    assert moved.value.reason == "tag-moved"
    assert client.confirm_digest(ref, second).digest == second


def test_deploy_path_makes_no_get_manifest_requests(
    registry: Registry, build_image: BuildImage, tmp_path: Path
) -> None:
    ref = parse_image_ref(f"{registry.address}/open/counted:v1")
    pushed = build_image(write_busybox_context(tmp_path, "counted"), str(ref))
    client = RegistryClient()
    client.confirm_digest(ref, pushed)
    client.head_digest(ref)
    assert client.stats.count("HEAD", "manifest") == 2
    assert client.stats.count("GET", "manifest") == 0
    assert sum(client.stats.requests.values()) == 2


def test_missing_tag_and_repository_are_manifest_not_found(registry: Registry) -> None:
    client = RegistryClient()
    for text in (f"{registry.address}/open/absent:nope", f"{registry.address}/never/pushed:v1"):
        with pytest.raises(ManifestNotFound) as caught:
            client.head_digest(parse_image_ref(text))
        assert caught.value.reason == "manifest-not-found"
        assert caught.value.exit_code == 4


def test_list_tags_follows_pages_and_config_has_labels(
    registry: Registry, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    context = write_busybox_context(tmp_path, "tags")
    ref = parse_image_ref(f"{registry.address}/open/tagged:pr-7")
    builder = select_builder(docker_engine.host, credentials=lambda host: None)
    labels = oci_labels("0123abc", "https://github.com/acme/app", 7)
    result = builder.build_and_push(
        BuildRequest(context=context, image=ref, extra_tags=("a", "b", "c"), labels=labels)
    )
    client = RegistryClient()
    assert sorted(client.list_tags(ref, page_size=2)) == ["a", "b", "c", "pr-7"]
    # distribution 2.8 ignores n= for tags (pages came in v3); Link parsing is unit-tested
    config = client.get_image_config(ref)
    assert config["config"]["Labels"] == labels
    assert client.head_digest(ref.with_tag("c")).digest == result.digest
