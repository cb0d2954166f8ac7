"""A git remote that never answers, during deploy-canary's preflight: the run's one deadline
(``--timeout``) bounds git as it bounds every Kubernetes and registry request.

The Application's repoURL is pointed at a listener on 127.0.0.1 that accepts connections and
stays silent; the preflight's ``git ls-remote`` (run while the image builds) must be killed,
with the helpers it started, at the deadline: exit 11 (timeout), the repository named, nothing
pinned, synced or pushed. No wall-time assertion: the subprocess wait's own timeout is only a
safety net (docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.adapters.bounded import Bound
from pipeline.adapters.kubefail import Deadline
from pipeline.errors import DeployTimeoutError
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_bad_input_nothing_written import canary_digest
from tests.integration.test_deploy_canary import app_path
from tests.integration.test_faults import black_hole, fake_server

pytestmark = pytest.mark.integration

TIMEOUT = 3
MARKER = "PIPELINE_FAULT_TEST_RUN"  # inherited by every process the run starts


def processes_with(marker: str) -> list[str]:
    """Command lines of the live processes whose environment carries ``marker``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def written(app: dict[str, object]) -> dict[str, object]:
    """What a deploy writes on the Application: its spec (the pin), annotations, operation."""
    metadata = app.get("metadata") or {}
    assert isinstance(metadata, dict)
    return {
        "spec": app.get("spec"),
        "annotations": metadata.get("annotations"),
        "operation": app.get("operation"),
    }


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_git_remote_that_never_answers_ends_the_run_at_its_deadline(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    path = app_path(seeded)
    original = sandbox.kube.get(path)["spec"]["source"]["repoURL"]
    digest_before = canary_digest(seeded)
    marker = f"{MARKER}={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "GITHUB_"))}
    env.update(KUBECONFIG=str(sandbox.kubeconfig), DOCKER_HOST=sandbox.docker_host)
    env[MARKER] = marker.split("=", 1)[1]
    with fake_server(black_hole) as port:
        url = f"http://127.0.0.1:{port}/gitops.git"
        sandbox.kube.patch(path, {"spec": {"source": {"repoURL": url}}})
        try:
            before = written(sandbox.kube.get(path))
            proc = subprocess.run(
                [sys.executable, "-m", "pipeline", "deploy-canary", "--service", repo.namespace,
                 "--context", str(repo.context_dir), "--timeout", str(TIMEOUT), "--output",
                 "json"],
                env=env, capture_output=True, text=True, timeout=300, check=False,
            )  # fmt: skip
            left = processes_with(marker)
            after = written(sandbox.kube.get(path))
        finally:
            sandbox.kube.patch(path, {"spec": {"source": {"repoURL": original}}})
    shown = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 11, shown
    (service,) = json.loads(proc.stdout)["services"]
    assert service["reason"] == "timeout", shown
    message = service["message"]
    assert url in message and "git ls-remote did not finish" in message, shown
    assert f"before the run's deadline (--timeout {TIMEOUT})" in message, shown
    assert "Traceback" not in proc.stderr, shown
    assert left == [], f"processes of the run still alive: {left}"
    assert after == before, "the Application was written"
    assert canary_digest(seeded) == digest_before, "the canary tag was pushed"


def _deadline(seconds: float) -> Deadline:
    """The run's deadline ``seconds`` from now (without kubefail's grace)."""
    deadline = Deadline()
    deadline.start(seconds)
    deadline.at = deadline.clock() + seconds
    return deadline


def test_the_deadline_kills_the_command_and_what_it_started() -> None:
    """``sh`` starting a background ``sleep`` (as git starts git-remote-http): both are gone
    once the deadline's error is raised, and the error is the run's timeout (exit 11)."""
    marker = f"{MARKER}={uuid.uuid4().hex}"
    env = {**os.environ, MARKER: marker.split("=", 1)[1]}
    bound = Bound(120, _deadline(0.5))
    with pytest.raises(DeployTimeoutError) as info:
        bound.run(["sh", "-c", "sleep 60 & sleep 60"], what="resolving 'HEAD' in x",
                  waiting_on="git ls-remote did not finish", env=env)  # fmt: skip
    assert info.value.exit_code == 11
    assert "git ls-remote did not finish before the run's deadline" in info.value.message
    assert processes_with(marker) == []


def test_a_passed_deadline_starts_no_command(tmp_path: Path) -> None:
    bound = Bound(120, _deadline(-1))
    with pytest.raises(DeployTimeoutError):
        bound.run(["touch", str(tmp_path / "ran")], what="x", waiting_on="touch did not finish")
    assert not (tmp_path / "ran").exists()


def test_without_a_deadline_the_own_limit_applies() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        Bound(0.5).run(["sleep", "60"], what="x", waiting_on="sleep did not finish")
