"""`pipeline sandbox load-image`: an image the registry never saw runs on the sandbox node, and
its pods report imageID sha256:<config digest>; the sandbox starts with its Node (kubectl)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest

from pipeline.sandbox.kubeclient import resource_path
from pipeline.tools import kubectl_path
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.services import write_busybox_context
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration

Obj = dict[str, Any]


def test_loaded_image_runs_without_a_registry_and_reports_its_config_digest(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    reference = f"local.test/loaded-{uuid.uuid4().hex[:8]}:v1"
    context = write_busybox_context(tmp_path / "ctx", uuid.uuid4().hex)
    client = docker.DockerClient(base_url=sandbox.docker_host)
    image, _ = client.images.build(path=str(context), tag=reference, rm=True)
    client.close()

    result = sandbox.cli("sandbox", "load-image", reference, "--state-dir", str(sandbox.state_dir))
    assert result.returncode == 0, result.stderr
    assert image.id in result.stdout

    ns = f"load-{uuid.uuid4().hex[:6]}"
    sandbox.kube.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    container = {"name": "app", "image": reference, "imagePullPolicy": "IfNotPresent"}
    sandbox.kube.create(
        resource_path("v1", "pods", ns),
        {"metadata": {"name": "loaded"}, "spec": {"containers": [container]}},
    )

    def running() -> Obj | None:
        pod = sandbox.kube.get(resource_path("v1", "pods", ns, "loaded"))
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return pod if statuses[0].get("ready") else None

    pod = wait_for("loaded image running", running, timeout=60)
    status = pod["status"]["containerStatuses"][0]
    assert status["imageID"] == image.id  # sha256:<config digest>, as kind/CRI-O report
    assert status["image"] == reference
    events = sandbox.kube.list(
        resource_path("v1", "events", ns), field_selector="involvedObject.name=loaded"
    )["items"]
    assert f'Container image "{reference}" already present on machine' in {
        e["message"] for e in events
    }

    nodes = subprocess.run(
        [kubectl_path(), f"--kubeconfig={sandbox.kubeconfig}", "get", "nodes"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert nodes.returncode == 0, nodes.stderr
    rows = [line.split()[:2] for line in nodes.stdout.splitlines()[1:]]
    assert ["sandbox", "Ready"] in rows  # other tests may have added nodes of their own
