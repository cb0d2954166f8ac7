"""deploy-canary with the Application's annotations as the only configuration: no --image, no
--tag. The sample Application carries image-list ``stable=<repo>:<svc>-api-dev-latest,
canary=<repo>:<svc>-api-dev-canary`` (pipeline/sandbox/sample.py), like real setups do."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import app_path, pods, running_digests

pytestmark = pytest.mark.integration
U = "argocd-image-updater.argoproj.io/"


def deploy(sandbox: SandboxHandle, seeded: SeededSample, *extra: str) -> tuple[int, Any, str]:
    proc = sandbox.cli(
        "deploy-canary", "--service", seeded.repo.namespace,
        "--context", str(seeded.repo.context_dir), "--output", "json", "--run-id", "alias",
        "--timeout", "90", *extra, timeout=150,
    )  # fmt: skip
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def test_service_and_context_alone_deploy_the_canary_alias(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    stable_uids = [
        p["metadata"]["uid"] for p in pods(sandbox, repo.namespace, repo.selectors["stable"])
    ]

    code, report, stderr = deploy(sandbox, seeded)

    (service,) = report["services"]
    assert (code, service["result"]) == (ExitCode.OK, "succeeded"), stderr
    assert service["image"] == repo.canary_image
    assert service["plan"]["alias"] == "canary"
    digest = service["digest"]
    assert digest.startswith("sha256:") and digest != seeded.digests["canary"]
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {digest}
    assert [
        p["metadata"]["uid"] for p in pods(sandbox, repo.namespace, repo.selectors["stable"])
    ] == stable_uids
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {
        seeded.digests["stable"]
    }


def test_alias_flag_and_bad_annotation(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    digest = seeded.digests["stable"]
    dry = ("--dry-run", "--no-build", "--digest", digest)

    code, report, stderr = deploy(sandbox, seeded, "--alias", "stable", *dry)
    (service,) = report["services"]
    assert (code, service["result"]) == (ExitCode.OK, "planned"), stderr
    assert service["image"] == repo.stable_image

    code, report, _ = deploy(sandbox, seeded, "--alias", "preview", *dry)
    (service,) = report["services"]
    assert code == ExitCode.USAGE
    assert "no image alias 'preview'" in service["message"]
    assert "'stable', 'canary'" in service["hint"]

    code, report, _ = deploy(sandbox, seeded, "--alias", "stable")  # would push stable's tag
    (service,) = report["services"]
    assert code == ExitCode.MISCONFIGURED
    assert [p["reason"] for p in service["problems"]] == ["tag-shared-with-other-workload"]
    assert f"{repo.namespace}-api " in service["problems"][0]["message"]
    assert "build" not in service["timings"]

    sandbox.kube.patch(
        app_path(seeded), {"metadata": {"annotations": {f"{U}canary.update-strategy": "digets"}}}
    )
    code, report, _ = deploy(sandbox, seeded)  # fails before any build
    (service,) = report["services"]
    assert (code, service["reason"]) == (ExitCode.USAGE, "bad-annotation")
    assert f"{U}canary.update-strategy" in service["message"]
    assert "timings" not in service or "build" not in service["timings"]
