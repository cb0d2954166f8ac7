"""Ctrl-C (SIGINT) and SIGTERM stop a command cleanly: exit 130 / 143, what was done reported,
the JSON document still printed with ``--output json``."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from typing import IO, Any

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import PIPELINE, SandboxHandle
from tests.integration.test_deploy_canary import (
    annotation,
    finish,
    hold_operation,
    release_operation,
    start_deploy,
    wait_for_app,
)

pytestmark = pytest.mark.integration


def read_until(stream: IO[str] | None, marker: bytes, timeout: float = 60) -> bytes:
    """Bytes of ``stream`` up to and including ``marker``; read from the pipe's descriptor so
    that select sees every byte not yet read."""
    assert stream is not None
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break
        data += chunk
    if marker not in data:
        pytest.fail(f"no {marker!r} within {timeout}s; got {data!r}")
    return data[: data.index(marker) + len(marker)]


def read_document(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, Any]:
    """The first JSON document the process prints (indented: it ends with a lone ``}``)."""
    loaded: dict[str, Any] = json.loads(read_until(proc.stdout, b"\n}\n", timeout))
    return loaded


def test_ctrl_c_during_a_deploy_exits_130_and_still_prints_the_report(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    hold_operation(sandbox, seeded)  # the deploy pins, then waits for this operation
    proc = start_deploy(
        sandbox, seeded, "--no-build", "--digest", seeded.digests["canary"], run_id="ctrl-c"
    )
    try:
        # the sync step waits for the held operation: its start is printed before it waits
        read_until(proc.stderr, f"[{seeded.repo.namespace}] sync ...\n".encode())
        app = wait_for_app(sandbox, seeded, lambda a: True, "the Application")
        assert annotation(app, "pipeline.dev/canary-run").endswith("-ctrl-c")  # pinned
        proc.send_signal(signal.SIGINT)
        code, report, stderr = finish(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        release_operation(sandbox, seeded)
    assert code == ExitCode.INTERRUPTED == 130, stderr
    (service,) = report["services"]
    assert (service["result"], service["reason"], service["exit_code"]) == (
        "failed", "interrupted", 130,
    )  # fmt: skip
    assert service["message"] == (
        "interrupted by SIGINT during sync: pinned; the sync may have been requested "
        "(Argo CD goes on with it)"
    )
    assert "rerun deploy-canary to finish, or cleanup-canary" in service["hint"]
    assert report["exit_code"] == 130
    assert "[" + seeded.repo.namespace + "] FAILED (interrupted, exit 130)" in stderr
    assert "Traceback" not in stderr


def test_sigterm_stops_poll_interval_with_143_after_its_cycles(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    repo = make_sample().repo
    args = [
        *PIPELINE, "poll", "--interval", "1h", "--dry-run", "--output", "json",
        "--service", repo.namespace, "--app", repo.app_name,
    ]  # fmt: skip
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = read_document(proc)
        assert [a["application"] for a in first["applications"]] == [f"argocd/{repo.app_name}"]
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # a failed assertion must not leave the poller running
            proc.kill()
            proc.communicate()
    assert proc.returncode == ExitCode.TERMINATED == 143, stderr
    assert json.loads(stdout.strip()) == {
        "schema_version": 1,
        "interrupted": True,
        "cycles_completed": 1,
    }
    assert "error: interrupted by SIGTERM: 1 poll cycle(s) completed" in stderr
    assert "Traceback" not in stderr
