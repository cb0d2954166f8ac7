"""`pipeline poll` against the sandbox and the real registry: only moved images are deployed,
with the registry requests counted; a bad annotation fails only its Application."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample, build_sample_image
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import running_digests

pytestmark = pytest.mark.integration
UPDATER = "argocd-image-updater.argoproj.io/"


def app_path(name: str) -> str:
    return resource_path("argoproj.io/v1alpha1", "applications", "argocd", name)


def only_canary(sandbox: SandboxHandle, seeded: SeededSample, label: str) -> None:
    """Poll only the canary alias of the sample, and label the Application for this test."""
    repo = seeded.repo
    sandbox.kube.patch(
        app_path(repo.app_name),
        {"metadata": {"labels": {"poll-test": label}, "annotations": {
            UPDATER + "image-list": f"canary={repo.canary_image}",
            UPDATER + "stable.update-strategy": None, UPDATER + "stable.pull-secret": None,
        }}},
    )  # fmt: skip


def extra_app(
    sandbox: SandboxHandle, name: str, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    """An Application that Argo CD compares but never syncs (no automated policy)."""
    sandbox.kube.create(
        app_path(name).rsplit("/", 1)[0],
        {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": labels,
                         "annotations": annotations},
            "spec": {"project": "default",
                     "source": {"repoURL": "file:///nonexistent", "path": ".",
                                "targetRevision": "HEAD"},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": f"{name}-ns"}},
        },
    )  # fmt: skip


def poll(sandbox: SandboxHandle | Backend, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = sandbox.cli("poll", "--once", "--output", "json", "--timeout", "90", *args)
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except json.JSONDecodeError:
        pytest.fail(f"no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def aliases(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{a['application']}:{alias['alias']}": alias
        for a in report["applications"]
        for alias in a["aliases"]
    }


def test_poll_updates_only_the_moved_image_with_one_head_per_image(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    label = uuid.uuid4().hex[:8]
    moved, steady = make_sample(), make_sample()
    for seeded in (moved, steady):
        only_canary(sandbox, seeded, label)
    extra_app(sandbox, f"typo-{label}", {"poll-test": label}, {
        UPDATER + "image-list": f"canary={moved.repo.canary_image}",
        UPDATER + "canary.update-strategy": "newest",
    })  # fmt: skip

    code, first, stderr = poll(backend, "-l", f"poll-test={label}")
    # the unpinned canaries are pinned (image-updater: no digest yet = update due)
    moved_key = f"argocd/{moved.repo.app_name}:canary"
    steady_key = f"argocd/{steady.repo.app_name}:canary"
    assert first["updated"] == sorted([moved_key, steady_key]), stderr
    typo = next(a for a in first["applications"] if a["application"] == f"argocd/typo-{label}")
    assert typo["error"]["reason"] == "bad-annotation" and "newest" in typo["error"]["message"]
    assert code == ExitCode.USAGE  # the bad annotation is the cycle's worst failure

    new_digest = build_sample_image(
        moved.repo, moved.repo.canary_image, sandbox.docker_host, revision="moved"
    )
    code, second, stderr = poll(backend, "-l", f"poll-test={label}")

    assert second["updated"] == [moved_key], stderr
    assert aliases(second)[steady_key]["result"] == "up-to-date"
    assert aliases(second)[moved_key]["deploy"]["digest"] == new_digest
    requests = second["registry"]["requests"]
    assert requests.get("HEAD manifest") == 2  # two distinct images, the typo app asks nothing
    assert "GET manifest" not in requests and "GET tags" not in requests
    assert running_digests(sandbox, moved.repo.namespace, moved.repo.selectors["canary"]) == {
        new_digest
    }
    assert running_digests(sandbox, steady.repo.namespace, steady.repo.selectors["canary"]) == {
        steady.digests["canary"]
    }


def test_dry_run_fetches_an_image_shared_by_applications_once(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    label = uuid.uuid4().hex[:8]
    seeded = make_sample()
    only_canary(sandbox, seeded, label)
    for i in range(3):
        extra_app(sandbox, f"copy{i}-{label}", {"poll-test": label}, {
            UPDATER + "image-list": f"canary={seeded.repo.canary_image}",
            UPDATER + "canary.update-strategy": "digest",
            # the same credentials as the sample's: a query is per image and credential
            UPDATER + "canary.pull-secret": "pullsecret:argocd/dockerhub-credentials",
        })  # fmt: skip

    code, report, stderr = poll(sandbox, "-l", f"poll-test={label}", "--dry-run")

    assert code == ExitCode.OK, stderr
    assert report["registry"]["requests"] == {"HEAD manifest": 1}
    decisions = aliases(report)
    assert len(decisions) == 4
    digest = seeded.digests["canary"]
    for decision in decisions.values():
        assert decision["result"] == "planned"
        assert decision["chosen"] == f"{seeded.repo.canary_image}@{digest}"
        assert decision["current"].startswith("(not pinned)")
    app = sandbox.kube.get(app_path(seeded.repo.app_name))
    assert "kustomize" not in app["spec"]["source"]
