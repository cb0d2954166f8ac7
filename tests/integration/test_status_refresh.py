"""`pipeline status` and `pipeline refresh` against the sandbox and the real registry."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pipeline.errors import ExitCode
from pipeline.inspect.refresh import REFRESH
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample, build_sample_image
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration


def test_status_agrees_then_reports_the_canary_behind_the_registry(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    proc = backend.cli("status", "--service", repo.namespace, "--output", "json")
    report = json.loads(proc.stdout)
    assert (proc.returncode, report["agree"]) == (ExitCode.OK, True), proc.stderr
    canary = next(a for a in report["aliases"] if a["alias"] == "canary")
    assert canary["registry"]["digest"] == seeded.digests["canary"]
    assert [p["digest"] for p in canary["pods"]] == [seeded.digests["canary"]]
    assert canary["workload"]["selector"] == repo.selectors["canary"]

    newer = build_sample_image(repo, repo.canary_image, sandbox.docker_host, revision="newer")
    proc = backend.cli("status", "--app", repo.app_name, "--alias", "canary", "-o", "json")

    report = json.loads(proc.stdout)
    assert proc.returncode == ExitCode.MISMATCH, proc.stderr
    (canary,) = report["aliases"]
    assert (canary["agree"], canary["reason"]) == (False, "pods-behind")
    assert canary["registry"]["digest"] == newer
    assert [p["digest"] for p in canary["pods"]] == [seeded.digests["canary"]]


def test_refresh_wait_returns_after_the_controller_removed_the_annotation(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    repo = make_sample().repo
    proc = backend.cli("refresh", "--app", repo.app_name, "--hard", "--wait", "-o", "json")
    assert proc.returncode == ExitCode.OK, proc.stderr
    result = json.loads(proc.stdout)
    assert result["refresh"] == "hard" and result["reconciledAt"]
    app = sandbox.kube.get(
        resource_path("argoproj.io/v1alpha1", "applications", "argocd", repo.app_name)
    )
    assert REFRESH not in (app["metadata"].get("annotations") or {})
