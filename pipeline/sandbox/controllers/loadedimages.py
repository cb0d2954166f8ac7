"""Images side-loaded into the node's runtime (``pipeline sandbox load-image``), like
``kind load docker-image``: no registry is involved.

``load_image`` copies an image from one Docker Engine into the sandbox's (``docker save`` piped
into ``docker load``; nothing to copy when they are the same engine) and records the reference
as written with its image ID (the config digest) in ``loaded-images.json`` in the state
directory. The kubelet reads that record: a container whose image is a loaded reference and
whose pull policy is not ``Always`` starts from the loaded image (``Container image "x" already
present on machine``) and reports ``imageID: sha256:<config digest>``, as containerd and CRI-O
do for an image without a repo digest (reference F.1).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

LOADED_IMAGES_FILE = "loaded-images.json"


class LoadedImages:
    """The record of loaded images: reference as written -> ``sha256:<config digest>``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def all(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, reference: str) -> str | None:
        return self.all().get(reference)

    def record(self, reference: str, image_id: str) -> None:
        assert self.path is not None
        data = self.all()
        data[reference] = image_id
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(self.path)


class LoadError(Exception):
    """The image is not in the source engine, or an engine refused."""


def load_image(reference: str, source_host: str | None, target_host: str) -> str:
    """Copy ``reference`` from ``source_host`` (default: DOCKER_HOST, the default socket, then
    ``target_host``) into ``target_host``; return its image ID."""
    import docker

    from pipeline.services.dockerd import find_engine

    source_host = source_host or find_engine() or target_host

    source = docker.DockerClient(base_url=source_host, timeout=300)
    try:
        try:
            image_id = str(source.images.get(reference).id)
        except docker.errors.ImageNotFound as e:
            raise LoadError(f"image {reference} not found in {source_host}") from e
        if source_host == target_host:
            return image_id
        target = docker.DockerClient(base_url=target_host, timeout=300)
        try:
            stream: Iterator[bytes] = source.api.get_image(reference)
            target.api.load_image(stream)
            loaded = str(target.images.get(image_id).id)
        except docker.errors.APIError as e:
            raise LoadError(str(e.explanation or e)) from e
        finally:
            target.close()
        return loaded
    finally:
        source.close()
