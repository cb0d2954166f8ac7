"""deploy-canary failures that only show after preflight passed: the image vanishes from the
registry, the Argo CD sync fails, an ApplicationSet reverts the pin. Each ends with its
documented exit code and reason, the evidence in the JSON, and the cluster state asserted.

A held Argo CD operation (tests.integration.test_deploy_canary.hold_operation) stops the deploy
right after its pin, so the test can change the world at exactly that point, without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.sample import sample_applicationset
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import (
    annotation,
    app_path,
    deploy,
    finish,
    hold_operation,
    release_operation,
    running_digests,
    start_deploy,
    wait_for_app,
)

pytestmark = pytest.mark.integration

DIGEST_ANNOTATION = "pipeline.dev/canary-digest"


def test_image_deleted_after_preflight_exits_image_pull_with_evidence(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    hold_operation(sandbox, seeded)
    proc = start_deploy(sandbox, seeded, via=backend)
    pinned = wait_for_app(sandbox, seeded, lambda a: bool(annotation(a, DIGEST_ANNOTATION)), "pin")
    digest = annotation(pinned, DIGEST_ANNOTATION)
    repository = repo.image_repository.split("/", 1)[1]
    deleted = requests.delete(
        f"http://{sandbox.registry.address}/v2/{repository}/manifests/{digest}", timeout=10
    )
    assert deleted.status_code == 202
    release_operation(sandbox, seeded)

    code, report, stderr = finish(proc)

    (service,) = report["services"]
    assert (code, service["exit_code"]) == (ExitCode.IMAGE_PULL, ExitCode.IMAGE_PULL), stderr
    assert service["reason"] in ("err-image-pull", "image-pull-backoff")
    assert service["digest"] == digest
    failing = [p for p in service["pods"] if p["waiting"] in ("ErrImagePull", "ImagePullBackOff")]
    assert failing and not any(p["ready"] for p in failing)
    events = service["diagnostics"]["events"]
    assert any(digest in e and ("Failed" in e or "BackOff" in e) for e in events), events
    assert digest in service["message"] or failing[0]["name"] in service["message"]
    # the old canary keeps serving (maxUnavailable), nothing runs the vanished digest
    assert digest not in running_digests(sandbox, repo.namespace, repo.selectors["canary"])
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {
        seeded.digests["stable"]
    }


def test_sync_of_a_missing_path_exits_sync_failed(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    sandbox.kube.patch(
        app_path(seeded),
        {"spec": {"source": {"path": "overlays/missing"}, "syncPolicy": None}},
    )

    code, report, stderr = deploy(
        sandbox, seeded, "--no-build", "--digest", seeded.digests["canary"]
    )

    (service,) = report["services"]
    assert (code, service["reason"]) == (ExitCode.SYNC_FAILED, "sync-failed"), stderr
    assert "overlays/missing" in service["message"]
    assert "operationState" in service["hint"]
    app = sandbox.kube.get(app_path(seeded))
    state = app["status"]["operationState"]
    assert state["phase"] in ("Failed", "Error")
    info = {i["name"]: i["value"] for i in state["operation"]["info"]}
    assert info["pipeline-digest"] == seeded.digests["canary"]
    # the canary still runs the image it ran before: nothing was applied
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {
        seeded.digests["canary"]
    }


def test_applicationset_reverting_the_pin_at_runtime_is_reported(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    hold_operation(sandbox, seeded)
    proc = start_deploy(sandbox, seeded, "--no-build", "--digest", seeded.digests["canary"])
    wait_for_app(sandbox, seeded, lambda a: bool(annotation(a, DIGEST_ANNOTATION)), "pin")
    appset = sample_applicationset(repo, name=f"appset-{repo.namespace}")
    sandbox.kube.create(resource_path("argoproj.io/v1alpha1", "applicationsets", "argocd"), appset)
    wait_for_app(
        sandbox,
        seeded,
        lambda a: (
            bool(a["metadata"].get("ownerReferences")) and "kustomize" not in a["spec"]["source"]
        ),
        "the ApplicationSet to adopt the Application and revert the pin",
    )
    release_operation(sandbox, seeded)

    code, report, stderr = finish(proc)

    (service,) = report["services"]
    assert (code, service["reason"]) == (ExitCode.MISCONFIGURED, "appset-reverted"), stderr
    (problem,) = service["problems"]
    assert problem["reason"] == "appset-reverted"
    assert "ignoreApplicationDifferences" in problem["fix"]
    assert "/spec/source/kustomize/patches" in problem["fix"]
    assert "kustomize" not in sandbox.kube.get(app_path(seeded))["spec"]["source"]
