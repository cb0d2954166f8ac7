"""The classic builder through the Docker Engine API (docker SDK), then push.

The build leaves the image untagged (known by its ID only); the push step tags it and pushes
each tag, so another build of the same tag on the same engine cannot swap images between our
build and our push unnoticed: after the push the engine's ``RepoDigests`` of our image must
hold the pushed digest, or the tag moved (``TagMovedError``, reported as superseded).

Used where the buildx plugin is missing. The build runs with ``network_mode`` from the request
(``host`` by default: engines started with ``--bridge=none`` have no bridge network). The push
sends credentials as ``X-Registry-Auth`` (``auth_config``), so no config file is written, and
its JSON stream ends with ``{"aux": {"Tag", "Digest", "Size"}}`` per tag (moby
``distribution/push_v2.go``, ``PushResult``) or an ``errorDetail``.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from pipeline.adapters.registry_transport import auth_hint
from pipeline.core.build import BuildRequest, BuiltImage, PushResult
from pipeline.core.images import ImageRef
from pipeline.core.ports import CredentialLookup
from pipeline.errors import BuildError, RegistryError, TagMovedError, truncate

log = logging.getLogger(__name__)

_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "no basic auth")
# a registry's 5xx during a push, or a manifest refused for a blob the push just saw there:
# distribution's filesystem storage, while another push links the same blob, answers 500
# "invalid checksum digest format" to its HEAD and "manifest blob unknown" to the manifest.
# The push is idempotent, so it is tried again, after a jittered pause.
_SERVER_ERROR = re.compile(
    r"\b5\d\d (?:Internal Server Error|Bad Gateway|Service Unavailable)|manifest blob unknown"
)
PUSH_ATTEMPTS = 3


def engine_version(docker_host: str) -> str | None:
    """The engine's version, or None when nothing answers at ``docker_host``."""
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=5)
        try:
            version: str = client.version().get("Version", "unknown")
        finally:
            client.close()
    except (docker.errors.DockerException, requests.RequestException):
        return None
    return version


def _log_tail(lines: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> str:
    text = "".join(str(line.get("stream") or line.get("error") or "") for line in lines)
    return truncate(text[-1500:].strip(), 1500)


@dataclass
class DockerApiBuilder:
    docker_host: str
    credentials: CredentialLookup | None = field(repr=False, default=None)
    why: str = "docker buildx is not installed"
    name: str = "docker"

    def build_and_push(self, request: BuildRequest) -> PushResult:
        return self.push(self.build(request))

    def build(self, request: BuildRequest) -> BuiltImage:
        if len(request.platforms) > 1:
            raise BuildError(
                f"building for {len(request.platforms)} platforms needs docker buildx",
                hint="install the buildx plugin or build for one platform",
            )
        if request.cache_to:
            log.warning("--cache-to is ignored: the classic builder cannot export a cache")
        client = docker.DockerClient(base_url=self.docker_host, timeout=600)
        try:
            return BuiltImage(request, self._build(client, request))
        finally:
            client.close()

    def push(self, built: BuiltImage) -> PushResult:
        request = built.request
        client = docker.DockerClient(base_url=self.docker_host, timeout=600)
        try:
            digest = ""
            for ref in request.all_refs():
                self._tag(client, built.image_id, ref)
                digest = self._push(client, ref, expected=digest or None)
            self._confirm_ours(client, built.image_id, request.image, digest)
        finally:
            client.close()
        tags = tuple(str(r) for r in request.all_refs())
        return PushResult(digest, tags, self.name, config_digest=built.image_id)

    def _tag(self, client: docker.DockerClient, image_id: str, ref: ImageRef) -> None:
        try:
            client.api.tag(image_id, ref.name, ref.tag, force=True)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise BuildError(f"docker tag {image_id[:19]} {ref}: {truncate(str(e), 300)}") from None

    def _build(self, client: docker.DockerClient, request: BuildRequest) -> str:
        """Build without a tag; return the image ID."""
        dockerfile = str(request.dockerfile) if request.dockerfile else None
        command = f"docker build --network {request.network} -t {request.image} {request.context}"
        try:
            image, _logs = client.images.build(
                path=str(request.context),
                dockerfile=dockerfile,
                labels=dict(request.labels),
                buildargs=dict(request.build_args),
                network_mode=request.network,
                cache_from=list(request.cache_from) or None,
                platform=request.platforms[0] if request.platforms else None,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as e:
            raise BuildError(
                f"{command} failed: {truncate(str(e.msg), 300)}",
                hint=_log_tail(list(e.build_log)),
            ) from None
        except (docker.errors.APIError, requests.RequestException) as e:
            raise BuildError(f"{command} failed: {truncate(str(e), 500)}") from None
        return str(image.id)

    def _confirm_ours(
        self, client: docker.DockerClient, image_id: str, ref: ImageRef, digest: str
    ) -> None:
        """A push goes by tag, and a tag is the engine's, not ours: another build of the same
        tag on the same engine can re-tag between our build and our push. The engine records
        a pushed digest in the RepoDigests of the image it pushed, so it must be in ours."""
        try:
            repo_digests = client.images.get(image_id).attrs.get("RepoDigests") or []
        except (docker.errors.APIError, requests.RequestException) as e:
            message = truncate(str(e), 300)
            raise RegistryError(f"cannot inspect the image just built: {message}") from None
        if not any(str(entry).endswith(f"@{digest}") for entry in repo_digests):
            raise TagMovedError(
                f"the push of {ref} stored {digest}, which is not the image this run built "
                f"({image_id[:19]}): another build re-tagged {ref} on the same engine meanwhile",
                hint="a newer run of this service owns the tag now; run again to take it back "
                "(the shipped workflows use one concurrency group per service)",
            )

    def _auth_config(self, ref: ImageRef) -> dict[str, str] | None:
        creds = self.credentials(ref.registry) if self.credentials else None
        if creds is None:
            return None
        return {"username": creds.username, "password": creds.password}

    def _push(self, client: docker.DockerClient, ref: ImageRef, expected: str | None) -> str:
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                return self._push_once(client, ref, expected)
            except RegistryError as e:
                if attempt == PUSH_ATTEMPTS or not _SERVER_ERROR.search(e.message):
                    raise
                log.info("push of %s: %s; trying again", ref, e.message)
                time.sleep(random.uniform(0.5, 1.5) * attempt)  # back-off, jittered
        raise AssertionError("unreachable")

    def _push_once(self, client: docker.DockerClient, ref: ImageRef, expected: str | None) -> str:
        auth = self._auth_config(ref)
        digest = ""
        try:
            stream = client.api.push(
                ref.name, tag=ref.tag, stream=True, decode=True, auth_config=auth
            )
            for line in stream:
                if "errorDetail" in line or "error" in line:
                    self._fail_push(ref, str(line.get("error") or line.get("errorDetail")))
                aux = line.get("aux") or {}
                digest = str(aux.get("Digest") or digest)
        except (docker.errors.APIError, requests.RequestException) as e:
            self._fail_push(ref, str(e))
        if not digest.startswith("sha256:"):
            raise RegistryError(
                f"docker push {ref} did not report a digest",
                hint="check the engine's log; the push may have been cut short",
            )
        if expected and digest != expected:
            raise TagMovedError(
                f"pushing {ref} stored {digest}, not {expected} like this run's other tags: "
                "another build re-tagged it on the same engine meanwhile"
            )
        log.info("pushed %s (%s)", ref, digest)
        return digest

    def _fail_push(self, ref: ImageRef, message: str) -> None:
        creds = self.credentials(ref.registry) if self.credentials else None
        if creds is not None:
            message = message.replace(creds.password, "<redacted>")
        message = truncate(message, 400)
        if "does not exist locally" in message or "no such image" in message.lower():
            raise TagMovedError(
                f"docker push {ref}: {message}",
                hint="another build on the same engine took this tag meanwhile; run again",
            )
        if any(word in message.lower() for word in _AUTH_WORDS):
            raise RegistryError(
                f"docker push {ref} was denied: {message}",
                hint=auth_hint(ref.registry),
                reason="registry-auth",
            )
        raise RegistryError(f"docker push {ref} failed: {message}")
