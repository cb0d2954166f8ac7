"""The sample app image really builds and runs (FROM scratch + static busybox)."""

from __future__ import annotations

import uuid
from pathlib import Path

import docker
import pytest

from pipeline.sandbox.sample import create_sample_repo
from pipeline.services.dockerd import DockerEngine

pytestmark = pytest.mark.integration


def test_sample_image_runs_and_crash_env_exits_1(
    tmp_path: Path, docker_engine: DockerEngine
) -> None:
    sample = create_sample_repo(tmp_path, registry="127.0.0.1:5999")
    client = docker.DockerClient(base_url=docker_engine.host)
    tag = f"sample-test:{uuid.uuid4().hex[:8]}"
    try:
        client.images.build(path=str(sample.context_dir), tag=tag, network_mode="host", rm=True)
        crashed = client.containers.run(
            tag, environment={"CRASH": "1"}, network_mode="none", detach=True
        )
        assert crashed.wait(timeout=60)["StatusCode"] == 1
        assert b"CRASH=1" in crashed.logs()
        crashed.remove()
        alive = client.containers.run(
            tag, environment={"VERSION": "v9"}, network_mode="none", detach=True
        )
        try:
            logs = b""
            for chunk in alive.logs(stream=True):
                logs += chunk
                if b"\n" in logs:
                    break
            assert logs.startswith(b"sample-api v9 alive")
            alive.reload()
            assert alive.status == "running"
        finally:
            alive.remove(force=True)
    finally:
        client.images.remove(tag, force=True)
        client.close()
