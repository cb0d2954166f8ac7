"""deploy-canary failures: misconfigurations fail before any write, runtime failures fail fast,
each with its documented exit code and reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.sample import sample_applicationset
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import deploy

pytestmark = pytest.mark.integration


def application(sandbox: SandboxHandle, seeded: SeededSample) -> dict[str, Any]:
    path = resource_path("argoproj.io/v1alpha1", "applications", "argocd", seeded.repo.app_name)
    return sandbox.kube.get(path)


def assert_not_written(sandbox: SandboxHandle, seeded: SeededSample) -> None:
    app = application(sandbox, seeded)
    assert "kustomize" not in app["spec"]["source"]
    assert "pipeline.dev/canary-run" not in (app["metadata"].get("annotations") or {})


@pytest.fixture(scope="module")
def seeded(make_sample: Callable[..., SeededSample]) -> SeededSample:
    """One sample for the checks that never write."""
    return make_sample()


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        (("--app", "dev-api-missing"), "application-not-found"),
        (("--selector", "app=nothing,version=v2"), "canary-workload-not-found"),
    ],
)
def test_misconfiguration_fails_before_any_write(
    sandbox: SandboxHandle, seeded: SeededSample, extra: tuple[str, ...], reason: str
) -> None:
    code, report, _ = deploy(sandbox, seeded, *extra)
    (service,) = report["services"]
    assert (code, service["exit_code"]) == (ExitCode.MISCONFIGURED, ExitCode.MISCONFIGURED)
    assert [p["reason"] for p in service["problems"]] == [reason]
    assert service["problems"][0]["fix"]
    assert_not_written(sandbox, seeded)
    assert_not_pushed(seeded)


def assert_not_pushed(seeded: SeededSample) -> None:
    """The canary tag still names the digest the sample pushed: the refused run built its
    image (a new digest: the created label differs) but never pushed it."""
    tag = parse_image_ref(f"{seeded.repo.image_repository}:{seeded.repo.namespace}-api-dev-canary")
    assert RegistryClient().head_digest(tag).digest == seeded.digests["canary"]


def test_all_problems_are_reported_at_once(sandbox: SandboxHandle, seeded: SeededSample) -> None:
    code, report, _ = deploy(
        sandbox, seeded, "--app", "dev-api-missing", "--selector", "app=nothing"
    )
    assert code == ExitCode.MISCONFIGURED
    assert_not_pushed(seeded)
    assert sorted(p["reason"] for p in report["services"][0]["problems"]) == [
        "application-not-found",
        "canary-workload-not-found",
    ]


def test_digest_not_in_registry_fails_before_any_write(
    sandbox: SandboxHandle, seeded: SeededSample
) -> None:
    code, report, _ = deploy(sandbox, seeded, "--no-build", "--digest", "sha256:" + "1" * 64)
    assert (code, report["services"][0]["reason"]) == (ExitCode.REGISTRY, "manifest-not-found")
    assert_not_written(sandbox, seeded)


def test_overlay_rewriting_the_canary_tag_is_caught(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    shared = make_sample(shared_name_override=True)
    code, report, _ = deploy(sandbox, shared)
    (service,) = report["services"]
    assert code == ExitCode.MISCONFIGURED
    assert [p["reason"] for p in service["problems"]] == ["override-rewrote-image"]
    assert "images" in service["problems"][0]["fix"]
    assert "sha256:000000" not in json.dumps(service)  # the stand-in digest never shows
    assert_not_written(sandbox, shared)
    assert_not_pushed(shared)


def test_applicationset_without_ignore_differences_is_caught(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    owned = make_sample()
    appset = sample_applicationset(owned.repo, name=f"appset-{owned.repo.namespace}")
    sandbox.kube.create(resource_path("argoproj.io/v1alpha1", "applicationsets", "argocd"), appset)
    _wait_owned(sandbox, owned)
    code, report, _ = deploy(sandbox, owned, via=backend)
    (service,) = report["services"]
    assert code == ExitCode.MISCONFIGURED
    assert [p["reason"] for p in service["problems"]] == ["appset-reverts-pin"]
    assert "ignoreApplicationDifferences" in service["problems"][0]["fix"]


def _wait_owned(sandbox: SandboxHandle, seeded: SeededSample) -> None:
    path = resource_path("argoproj.io/v1alpha1", "applications", "argocd")
    listing = sandbox.kube.list(path)
    app = next(a for a in listing["items"] if a["metadata"]["name"] == seeded.repo.app_name)
    if app["metadata"].get("ownerReferences"):
        return
    version = listing["metadata"]["resourceVersion"]
    for event in sandbox.kube.watch(path, version, timeout_seconds=30):
        obj = event["object"]
        if obj["metadata"]["name"] == seeded.repo.app_name and obj["metadata"].get(
            "ownerReferences"
        ):
            return
    pytest.fail("the ApplicationSet never adopted the Application")


def test_crashing_image_exits_crash_loop_with_logs(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    crashing = make_sample()
    code, report, _ = deploy(sandbox, crashing, "--build-arg", "CRASH=1", via=backend)
    (service,) = report["services"]
    assert (code, service["reason"]) == (ExitCode.CRASH_LOOP, "crash-loop")
    digest = service["digest"]
    ours = [p for p in service["pods"] if p["imageID"].endswith(digest)]
    assert ours and not any(p["ready"] for p in ours)
    assert max(p["restarts"] for p in ours) >= 2
    diagnostics = service["diagnostics"]  # pod logs and events, through either backend
    assert diagnostics["logs"].strip(), diagnostics
    assert any("BackOff" in e for e in diagnostics["events"]), diagnostics


def test_a_deploy_after_a_failed_canary_succeeds(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    """The crash-looping pods of the previous run's canary are history: the next deploy is
    judged on the ReplicaSet of its own template only (issue 13: it failed 7 times in 8)."""
    seeded = make_sample()
    for attempt in range(3):
        code, report, _ = deploy(sandbox, seeded, "--build-arg", "CRASH=1")
        assert (code, report["services"][0]["reason"]) == (ExitCode.CRASH_LOOP, "crash-loop")
        code, report, stderr = deploy(sandbox, seeded, "--build-arg", f"ROUND={attempt}")
        (service,) = report["services"]
        assert code == ExitCode.OK, stderr
        assert all(p["imageID"].endswith(service["digest"]) for p in service["pods"] if p["ready"])


def test_timeout_exits_timeout(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    slow = make_sample()
    code, report, _ = deploy(sandbox, slow, "--timeout", "0.01")
    assert (code, report["services"][0]["exit_code"]) == (ExitCode.TIMEOUT, ExitCode.TIMEOUT)
