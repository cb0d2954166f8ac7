"""Builder selection and the classic Docker build + push, against the real dockerd."""

from __future__ import annotations

import threading
from pathlib import Path

import docker
import pytest

from pipeline.adapters.builder import PrebuiltImage, buildx_version, select_builder
from pipeline.adapters.registry import RegistryClient
from pipeline.core.build import BuildRequest, oci_labels
from pipeline.core.images import parse_image_ref
from pipeline.errors import BuildError, ExitCode, TagMovedError
from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from tests.fixtures.services import write_busybox_context

pytestmark = pytest.mark.integration


def test_selection_says_which_builder_and_why(docker_engine: DockerEngine) -> None:
    builder = select_builder(docker_engine.host, credentials=lambda host: None)
    if buildx_version(docker_engine.host) is None:
        assert builder.name == "docker"
        assert "buildx is not installed" in builder.why
        assert "classic builder" in builder.why
    else:
        assert builder.name == "buildx"
        assert "buildx is available" in builder.why


def test_no_engine_is_a_build_error_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        select_builder(f"unix://{tmp_path}/absent.sock")
    assert caught.value.exit_code == ExitCode.BUILD
    assert "--no-build --digest" in caught.value.hint


def test_push_digest_labels_and_extra_tags(
    docker_engine: DockerEngine, registry: Registry, tmp_path: Path
) -> None:
    ref = parse_image_ref(f"{registry.address}/builder/app:pr-12")
    labels = oci_labels("f00dcafe", "https://github.com/acme/app", 12)
    builder = select_builder(docker_engine.host, credentials=lambda host: None)
    result = builder.build_and_push(
        BuildRequest(
            context=write_busybox_context(tmp_path, "labels"),
            image=ref,
            extra_tags=("sha-f00dcafe",),
            labels=labels,
            build_args={"UNUSED": "1"},
        )
    )
    assert result.builder == builder.name
    assert result.tags == (str(ref), f"{registry.address}/builder/app:sha-f00dcafe")
    client = RegistryClient()
    assert client.head_digest(ref).digest == result.digest
    assert client.head_digest(ref.with_tag("sha-f00dcafe")).digest == result.digest
    assert client.get_image_config(ref)["config"]["Labels"] == labels


def test_failed_build_carries_command_and_log(
    docker_engine: DockerEngine, registry: Registry, tmp_path: Path
) -> None:
    context = write_busybox_context(tmp_path, "broken")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY no-such-file /x\n")
    builder = select_builder(docker_engine.host, credentials=lambda host: None)
    with pytest.raises(BuildError) as caught:
        builder.build_and_push(
            BuildRequest(context=context, image=parse_image_ref(f"{registry.address}/b/x:v1"))
        )
    assert "docker build" in str(caught.value)
    assert "no-such-file" in str(caught.value) + caught.value.hint


def test_classic_builder_refuses_several_platforms(
    docker_engine: DockerEngine, registry: Registry, tmp_path: Path
) -> None:
    builder = select_builder(docker_engine.host, credentials=lambda host: None, prefer="docker")
    request = BuildRequest(
        context=write_busybox_context(tmp_path, "multi"),
        image=parse_image_ref(f"{registry.address}/b/multi:v1"),
        platforms=("linux/amd64", "linux/arm64"),
    )
    with pytest.raises(BuildError, match="needs docker buildx"):
        builder.build_and_push(request)


def test_prebuilt_image_builds_nothing(registry: Registry, tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    builder = PrebuiltImage(digest)
    result = builder.build_and_push(
        BuildRequest(context=tmp_path, image=parse_image_ref(f"{registry.address}/b/pre:v1"))
    )
    assert (result.digest, result.tags, result.builder) == (digest, (), "prebuilt")
    assert "--no-build" in builder.why


def test_concurrent_builds_of_one_tag_never_report_the_other_image(
    docker_engine: DockerEngine, registry: Registry, tmp_path: Path
) -> None:
    """Two runs build different sources under one tag on one engine at once. Whatever the
    interleaving, a run that reports success reports the digest of the image it built."""
    ref = parse_image_ref(f"{registry.address}/builder/race:canary")
    builder = select_builder(docker_engine.host, credentials=lambda host: None)
    outcomes: dict[str, str] = {}

    def build(marker: str) -> None:
        try:
            result = builder.build_and_push(
                BuildRequest(context=write_busybox_context(tmp_path / marker, marker), image=ref)
            )
            outcomes[marker] = result.digest
        except TagMovedError as e:
            assert (e.reason, e.exit_code) == ("tag-moved", ExitCode.SUPERSEDED)
            outcomes[marker] = "tag-moved"

    for _ in range(3):
        outcomes.clear()
        threads = [threading.Thread(target=build, args=(m,)) for m in ("left", "right")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        digests = [d for d in outcomes.values() if d != "tag-moved"]
        assert len(outcomes) == 2
        assert len(digests) == len(set(digests)), f"both runs claimed one image: {outcomes}"
        for marker, digest in outcomes.items():
            if digest == "tag-moved":
                continue
            config = RegistryClient().get_image_config(ref.with_digest(digest))
            layers = config["rootfs"]["diff_ids"]
            built = builder_image_layers(docker_engine, tmp_path / marker, marker)
            assert layers == built, f"{marker} reported a digest whose layers are not its own"


def builder_image_layers(engine: DockerEngine, context: Path, marker: str) -> list[str]:
    """The layer diff IDs of the local build of ``context`` (the build cache makes it exact)."""
    client = docker.DockerClient(base_url=engine.host)
    try:
        image, _ = client.images.build(path=str(context), network_mode="host", rm=True)
        return list(image.attrs["RootFS"]["Layers"])
    finally:
        client.close()
