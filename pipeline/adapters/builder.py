"""Build and push the canary image, and say which builder ran and why.

Builders, in order of preference (``select_builder``):

* ``buildx`` (python-on-whales ``docker buildx build --push --metadata-file``): cache import and
  export, several platforms; the digest is ``containerimage.digest`` of the metadata file
  (docs.docker.com ``reference/cli/docker/buildx/build``, ``--metadata-file``).
* ``docker`` (Docker Engine API build with the classic builder, then push): for an engine
  without the buildx plugin; the digest is the ``aux.Digest`` of the push stream (the same
  value ``docker push`` prints as ``digest: sha256:...``).
* ``prebuilt`` (``--no-build --digest``): nothing is built; the image was pushed elsewhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.adapters.credentials import DockerConfigCredentials
from pipeline.core.build import Builder, BuildRequest, BuiltImage, PushResult
from pipeline.core.images import validate_digest
from pipeline.core.ports import CredentialLookup
from pipeline.errors import BuildError

log = logging.getLogger(__name__)


@dataclass
class PrebuiltImage:
    """``--no-build --digest``: the image was built and pushed elsewhere."""

    digest: str
    name: str = "prebuilt"
    why: str = "--no-build was given with --digest: using an image pushed elsewhere"

    def __post_init__(self) -> None:
        validate_digest(self.digest)

    def build(self, request: BuildRequest) -> BuiltImage:
        return BuiltImage(request)

    def push(self, built: BuiltImage) -> PushResult:
        return PushResult(self.digest, (), self.name)

    def build_and_push(self, request: BuildRequest) -> PushResult:
        return self.push(self.build(request))


def buildx_version(docker_host: str) -> str | None:
    """``docker buildx version`` against ``docker_host``, or None when the plugin is missing."""
    from python_on_whales import DockerClient
    from python_on_whales.exceptions import DockerException

    try:
        version: str = DockerClient(host=docker_host).buildx.version().strip()
    except (DockerException, FileNotFoundError) as e:
        log.debug("docker buildx is not usable: %s", type(e).__name__)
        return None
    return version


def select_builder(
    docker_host: str | None,
    *,
    credentials: CredentialLookup | None = None,
    docker_config: Path | None = None,
    prefer: str | None = None,
) -> Builder:
    """The best builder this machine has; ``.why`` explains the choice.

    ``credentials`` (default: the Docker config) authenticate the classic push; buildx reads
    the Docker config in ``docker_config`` (default ``$DOCKER_CONFIG``) as the CLI does.
    """
    from pipeline.adapters.builder_buildx import BuildxBuilder
    from pipeline.adapters.builder_docker import DockerApiBuilder, engine_version

    host = docker_host or "unix:///var/run/docker.sock"
    engine = engine_version(host)
    if engine is None:
        raise BuildError(
            f"no Docker Engine answers at {host}",
            hint="start Docker or set DOCKER_HOST; or pass --no-build --digest for an image "
            "built elsewhere",
        )
    buildx = buildx_version(host) if prefer in (None, "buildx") else None
    if buildx is not None:
        return BuildxBuilder(
            docker_host=host,
            docker_config=docker_config,
            why=f"docker buildx is available ({buildx}); it supports cache export and platforms",
        )
    if prefer == "buildx":
        raise BuildError("--builder buildx was asked for but 'docker buildx version' fails")
    reason = "docker buildx is not installed" if prefer is None else f"--builder {prefer}"
    return DockerApiBuilder(
        docker_host=host,
        credentials=credentials
        or DockerConfigCredentials(docker_config / "config.json" if docker_config else None),
        why=f"{reason}; building with the Docker Engine {engine} classic builder, then pushing",
    )
