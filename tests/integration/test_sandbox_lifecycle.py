"""`pipeline sandbox up|down|status` as a user runs it: idempotent, restartable, no leftovers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.services.dockerd import DockerEngine
from pipeline.services.process import pid_alive, wait_until
from pipeline.services.registry import Registry
from tests.fixtures.sandbox import run_cli

pytestmark = pytest.mark.integration


def _up(state_dir: Path, registry: Registry | None, docker: DockerEngine) -> dict[str, object]:
    args = [
        "sandbox",
        "up",
        "--state-dir",
        str(state_dir),
        "-o",
        "json",
        "--docker-host",
        docker.host,
    ]
    if registry is not None:
        args += ["--registry", registry.address]
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    status: dict[str, object] = json.loads(result.stdout)
    return status


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def test_up_is_idempotent_and_status_reports_endpoints(
    tmp_path: Path, registry: Registry, docker_engine: DockerEngine
) -> None:
    first = _up(tmp_path, registry, docker_engine)
    try:
        second = _up(tmp_path, registry, docker_engine)
        assert second["pid"] == first["pid"]
        status = json.loads(
            run_cli(["sandbox", "status", "--state-dir", str(tmp_path), "-o", "json"]).stdout
        )
        assert status["running"] is True
        assert status["registry"] == registry.address
        assert status["docker_host"] == docker_engine.host
        assert Path(str(status["kubeconfig"])).is_file()
        assert str(status["server"]).startswith("http://127.0.0.1:")
    finally:
        down = run_cli(["sandbox", "down", "--state-dir", str(tmp_path)])
    assert down.returncode == 0
    assert "stopped" in down.stdout
    after = json.loads(
        run_cli(["sandbox", "status", "--state-dir", str(tmp_path), "-o", "json"]).stdout
    )
    assert after["running"] is False
    assert not pid_alive(int(str(first["pid"])))


def test_killed_sandbox_leaves_no_processes_and_restarts_with_its_state(
    tmp_path: Path, docker_engine: DockerEngine
) -> None:
    first = _up(tmp_path, None, docker_engine)  # the sandbox starts its own registry
    kube = KubeClient(str(first["server"]))
    kube.create(
        resource_path("v1", "configmaps", "default"),
        {"metadata": {"name": "survivor"}, "data": {"k": "v"}},
    )
    pid = int(str(first["pid"]))
    children = _children(pid)
    assert children, "the sandbox's own registry runs as its child"
    store = tmp_path / "store.json"  # snapshots are debounced (1 s): kill once it is saved
    wait_until(
        lambda: store.exists() and '"survivor"' in store.read_text(),
        timeout=10,
        what="the ConfigMap in the store snapshot",
    )
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), timeout=10, what="killed daemon exit")
    wait_until(lambda: not any(pid_alive(c) for c in children), timeout=20, what="children exit")
    second = _up(tmp_path, None, docker_engine)
    try:
        assert second["pid"] != first["pid"]
        assert second["server"] == first["server"], "the API port is kept across restarts"
        assert second["registry"] == first["registry"], "image references stay valid"
        assert second["secure_server"] == first["secure_server"]
        assert second["certificate_authority"] == first["certificate_authority"]
        kube = KubeClient(str(second["server"]))
        survivor = kube.get(resource_path("v1", "configmaps", "default", "survivor"))
        assert survivor["data"] == {"k": "v"}
    finally:
        run_cli(["sandbox", "down", "--state-dir", str(tmp_path)])


def test_status_of_a_state_dir_that_never_ran(tmp_path: Path) -> None:
    result = run_cli(["sandbox", "status", "--state-dir", str(tmp_path / "none"), "-o", "json"])
    assert result.returncode == 0
    assert json.loads(result.stdout)["running"] is False


def test_sample_without_a_running_sandbox_fails_with_the_sandbox_code(tmp_path: Path) -> None:
    result = run_cli(["sandbox", "sample", "--state-dir", str(tmp_path)])
    assert result.returncode == 13
    assert "pipeline sandbox up" in result.stderr
