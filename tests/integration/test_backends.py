"""Every command through both backends: the Kubernetes API (a kubeconfig) and the Argo CD API
(only ARGOCD_SERVER and a project token, no kubeconfig at all), with the same outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.core.images import digest_from_image_id
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration


def deploy_args(seeded: SeededSample, *extra: str) -> list[str]:
    repo = seeded.repo
    return [
        "deploy-canary",
        "--service", repo.namespace,
        "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary",
        "--context", str(repo.context_dir),
        "--app", repo.app_name,
        "--namespace", repo.namespace,
        "--selector", repo.selectors["canary"],
        "--timeout", "90",
        "--run-id", "backends",
        "--output", "json",
        *extra,
    ]  # fmt: skip


def report_of(out: Any) -> dict[str, Any]:
    try:
        report: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    return report


def running(sandbox: SandboxHandle, namespace: str, selector: str) -> set[str | None]:
    listing = sandbox.kube.list(resource_path("v1", "pods", namespace), label_selector=selector)
    return {
        digest_from_image_id(s.get("imageID", ""))
        for p in listing["items"]
        if not p["metadata"].get("deletionTimestamp")
        for s in p.get("status", {}).get("containerStatuses") or []
        if s.get("ready")
    }


def test_deploy_canary_through_either_backend_runs_the_pushed_digest(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    seeded = make_sample()
    out = backend.cli(*deploy_args(seeded))
    report = report_of(out)
    (service,) = report["services"]
    why = f"{service['reason']}: {service['message']} ({service['hint']})\n{out.stderr}"
    assert (out.returncode, service["result"]) == (ExitCode.OK, "succeeded"), why
    assert report["backend"]["name"] == backend.name
    digest = service["digest"]
    assert {digest_from_image_id(p["imageID"]) for p in service["pods"] if p["ready"]} == {digest}
    repo = seeded.repo
    assert running(sandbox, repo.namespace, repo.selectors["canary"]) == {digest}
    assert running(sandbox, repo.namespace, repo.selectors["stable"]) == {seeded.digests["stable"]}
    token = backend.env.get("ARGOCD_AUTH_TOKEN")
    if token:
        assert token not in out.stdout + out.stderr
        assert set(report["requests"]) == {"registry", "argocd"}
