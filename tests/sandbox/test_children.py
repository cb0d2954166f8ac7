"""The daemon's child supervision with a real Distribution registry: a killed child is
restarted on its port and the restart is reported; a child that cannot start is reported
down, with the reason, and retried with back-off."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline.errors import SandboxError
from pipeline.sandbox.children import Children, Handle, describe
from pipeline.sandbox.daemon import _registry_answers
from pipeline.services.registry import Registry, start_registry
from tests.fixtures.waiting import wait_for


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Children, Registry]]:
    data = tmp_path / "registry"
    reg = start_registry(data)
    port = int(reg.address.rsplit(":", 1)[1])
    children = Children(interval=0.1)
    children.add("registry", reg, lambda: start_registry(data, port=port), _registry_answers)
    yield children, reg
    children.stop_all()


def test_a_killed_registry_is_restarted_on_its_port_and_reported(
    supervised: tuple[Children, Registry],
) -> None:
    children, reg = supervised
    assert reg.proc is not None
    first_pid = reg.proc.pid
    reports: list[dict[str, dict[str, object]]] = []
    children.on_change = lambda: reports.append(children.report())
    stop = threading.Event()
    thread = threading.Thread(target=children.run, args=(stop,), daemon=True)
    thread.start()
    try:
        os.kill(first_pid, signal.SIGKILL)
        entry = wait_for(
            "the registry restarted",
            lambda: (e := children.report()["registry"])["restarts"] == 1 and e["healthy"] and e,
            timeout=30,
        )
        assert entry["pid"] != first_pid
        # a child started by the supervising thread lives while that thread does
        assert requests.get(f"http://{reg.address}/v2/", timeout=5).status_code == 200
    finally:
        stop.set()
        thread.join(10)
    assert reports and reports[-1]["registry"]["restarts"] == 1
    assert describe(children.report()) == [f"registry: running (pid {entry['pid']}), restarted 1x"]


def test_a_child_that_cannot_start_is_reported_down_and_retried(
    supervised: tuple[Children, Registry],
) -> None:
    children, reg = supervised
    attempts: list[int] = []

    def failing_start() -> Handle:
        attempts.append(1)
        raise SandboxError("registry exited with code 1 while starting")

    children.children[0].start = failing_start
    reg.stop()
    for _ in range(20):  # 2 s of supervisor time at 0.1 s a round
        children.check_all()
    entry = children.report()["registry"]
    assert entry["healthy"] is False and entry["pid"] is None
    assert entry["restarts"] == 0
    assert "restart failed: registry exited with code 1" in str(entry["last_error"])
    # back-off: 1 s, then 2 s between tries, so 2 tries in 2 s rather than 20
    assert len(attempts) == 2
    assert describe(children.report())[0].startswith("registry: down (restart failed:")
