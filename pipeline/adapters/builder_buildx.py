"""``docker buildx build --push`` through python-on-whales.

The pushed digest is read from ``--metadata-file``: a JSON object whose
``containerimage.digest`` is the manifest or index digest the registry stored (docs.docker.com
``reference/cli/docker/buildx/build/#metadata-file``). With provenance attestations (buildx's
default for pushes) that is an image index even for one platform, which is also what containerd
records as the pod's imageID (reference F.1).

``build`` runs the build without pushing (the result stays in BuildKit's cache); ``push`` runs
the same build with ``--push``, which BuildKit answers from that cache, so nothing leaves the
machine before a run decides to push.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.build import BuildRequest, BuiltImage, PushResult
from pipeline.errors import BuildError, RegistryError, truncate

_AUTH_WORDS = ("unauthorized", "authentication required", "denied", "401")


def digest_from_metadata(metadata: dict[str, Any]) -> str:
    """``containerimage.digest`` of a buildx metadata file, validated."""
    digest = metadata.get("containerimage.digest")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise BuildError(
            "buildx did not record containerimage.digest in its metadata file",
            hint="check that the build pushed (--push) and that buildx is 0.9 or newer",
        )
    return digest


def cache_spec(spec: str) -> dict[str, str]:
    """``type=registry,ref=x`` (or a bare ``x``, meaning a registry ref) as a dict."""
    if "=" not in spec:
        return {"type": "registry", "ref": spec}
    return dict(item.split("=", 1) for item in spec.split(",") if "=" in item)


@dataclass
class BuildxBuilder:
    docker_host: str
    docker_config: Path | None = None
    why: str = "docker buildx is available"
    name: str = "buildx"

    def build_and_push(self, request: BuildRequest) -> PushResult:
        return self.push(self.build(request))

    def build(self, request: BuildRequest) -> BuiltImage:
        self._run(request, push=False)
        return BuiltImage(request)

    def push(self, built: BuiltImage) -> PushResult:
        return self._run(built.request, push=True)

    def _run(self, request: BuildRequest, *, push: bool) -> PushResult:
        from python_on_whales import DockerClient
        from python_on_whales.exceptions import DockerException

        client = DockerClient(host=self.docker_host, config=self.docker_config)
        tags = [str(ref) for ref in request.all_refs()]
        with tempfile.TemporaryDirectory(prefix="pipeline-buildx-") as tmp:
            metadata_path = Path(tmp) / "metadata.json"
            try:
                client.buildx.build(
                    request.context,
                    file=request.dockerfile,
                    tags=tags,
                    labels=dict(request.labels),
                    build_args=dict(request.build_args),
                    platforms=list(request.platforms) or None,
                    cache_from=[cache_spec(spec) for spec in request.cache_from] or None,
                    cache_to=request.cache_to,
                    network=request.network,
                    metadata_file=metadata_path,
                    push=push,
                    progress="plain",
                )
            except DockerException as e:
                stderr = truncate((e.stderr or "")[-1500:].strip(), 1500)
                flag = " --push" if push else ""
                command = f"docker buildx build{flag} -t {tags[0]} {request.context}"
                if "push" in stderr.lower() and any(w in stderr.lower() for w in _AUTH_WORDS):
                    raise RegistryError(
                        f"{command}: the registry denied the push",
                        hint=stderr,
                        reason="registry-auth",
                    ) from None
                raise BuildError(
                    f"{command} failed with exit code {e.return_code}", hint=stderr
                ) from None
            metadata = json.loads(metadata_path.read_text()) if push else {}
        if not push:
            return PushResult("", (), self.name)
        config = metadata.get("containerimage.config.digest")
        return PushResult(
            digest_from_metadata(metadata), tuple(tags), self.name,
            config_digest=config if isinstance(config, str) else "",
        )  # fmt: skip
