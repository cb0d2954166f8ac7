"""`pipeline sandbox up|down|status` as a user runs it: idempotent, restartable, no leftovers."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest
import requests

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
    """kill -9 while a client writes, then `up` at once: every write the client saw
    acknowledged is there (the journal is fsynced before the answer), in each of the tries."""
    acked: list[str] = []
    first = _up(tmp_path, None, docker_engine)  # the sandbox starts its own registry
    try:
        for attempt in range(KILL_TRIES):
            kube = KubeClient(str(first["server"]))
            pid = int(str(first["pid"]))
            children = _children(pid)
            assert children, "the sandbox's own registry runs as its child"
            stop = threading.Event()
            writer = threading.Thread(
                target=_write_until, args=(kube, f"try{attempt}", acked, stop), daemon=True
            )
            writer.start()
            target = len(acked) + 20
            wait_until(lambda t=target: len(acked) >= t, timeout=30, what="writes")
            os.kill(pid, signal.SIGKILL)  # mid-write: the writer is still sending
            stop.set()
            writer.join(30)
            wait_until(lambda p=pid: not pid_alive(p), timeout=10, what="killed daemon exit")
            # `up` at once, while the killed daemon's registry may still be shutting down
            second = _up(tmp_path, None, docker_engine)
            wait_until(
                lambda c=children: not any(pid_alive(x) for x in c),
                timeout=20,
                what="the killed daemon's children exit",
            )
            assert second["pid"] != first["pid"]
            assert second["server"] == first["server"], "the API port is kept across restarts"
            assert second["registry"] == first["registry"], "image references stay valid"
            assert second["secure_server"] == first["secure_server"]
            assert second["certificate_authority"] == first["certificate_authority"]
            kube = KubeClient(str(second["server"]))
            listing = kube.get(resource_path("v1", "configmaps", "default"))
            names = {item["metadata"]["name"] for item in listing["items"]}
            lost = [name for name in acked if name not in names]
            assert not lost, f"try {attempt}: {len(lost)} of {len(acked)} acknowledged writes lost"
            first = second
    finally:
        run_cli(["sandbox", "down", "--state-dir", str(tmp_path)])


KILL_TRIES = 3


def _write_until(kube: KubeClient, prefix: str, acked: list[str], stop: threading.Event) -> None:
    for n in range(5000):  # bounded even if the kill never came
        if stop.is_set():
            return
        name = f"{prefix}-{n}"
        try:
            kube.create(
                resource_path("v1", "configmaps", "default"),
                {"metadata": {"name": name}, "data": {"n": str(n)}},
            )
        except Exception:  # the daemon died mid-request: this one was not acknowledged
            return
        acked.append(name)


def _up_no_docker(state_dir: Path) -> dict[str, object]:
    args = ["sandbox", "up", "--state-dir", str(state_dir), "-o", "json", "--no-docker"]
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    status: dict[str, object] = json.loads(result.stdout)
    return status


def test_a_stale_pid_file_naming_another_live_process_does_not_block_up(tmp_path: Path) -> None:
    """After a kill -9 the pid in daemon.pid may belong to another process by now."""
    tmp_path.joinpath("daemon.pid").write_text(str(os.getpid()))  # alive, but not a daemon
    tmp_path.joinpath("status.json").write_text(json.dumps({"running": True, "pid": os.getpid()}))
    before = json.loads(
        run_cli(["sandbox", "status", "--state-dir", str(tmp_path), "-o", "json"]).stdout
    )
    assert before["running"] is False
    status = _up_no_docker(tmp_path)
    try:
        assert status["running"] is True
        assert status["pid"] != os.getpid()
    finally:
        run_cli(["sandbox", "down", "--state-dir", str(tmp_path)])
    assert pid_alive(os.getpid())  # `down` did not signal the stranger


def test_a_killed_registry_child_is_restarted_and_reported(tmp_path: Path) -> None:
    status = _up_no_docker(tmp_path)
    try:
        children = status["children"]
        assert isinstance(children, dict)
        first_pid = int(children["registry"]["pid"])
        os.kill(first_pid, signal.SIGKILL)

        def restarted() -> bool:
            result = run_cli(["sandbox", "status", "--state-dir", str(tmp_path), "-o", "json"])
            entry = json.loads(result.stdout)["children"]["registry"]
            return bool(entry["restarts"] == 1 and entry["healthy"])

        wait_until(restarted, timeout=60, what="the registry restart reported")
        text = run_cli(["sandbox", "status", "--state-dir", str(tmp_path)]).stdout
        assert "registry: running (pid " in text and "restarted 1x" in text
        registry = str(status["registry"])
        assert requests.get(f"http://{registry}/v2/", timeout=5).status_code == 200
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
