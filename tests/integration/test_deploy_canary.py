"""`pipeline deploy-canary` as a user runs it, against the sandbox, the real registry and Docker.

Each test seeds its own sample service (own namespace, Application and images) so tests never
depend on each other's leftovers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.errors import ExitCode
from pipeline.images import digest_from_image_id
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration


def deploy(
    sandbox: SandboxHandle, seeded: SeededSample, *extra: str, timeout: float = 120
) -> tuple[int, dict[str, Any], str]:
    repo = seeded.repo
    args = [
        "deploy-canary",
        "--service", repo.namespace,
        "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary",
        "--context", str(repo.context_dir),
        "--app", repo.app_name,
        "--namespace", repo.namespace,
        "--selector", repo.selectors["canary"],
        "--timeout", "90",
        "--run-id", "test",
        "--output", "json",
        *extra,
    ]  # fmt: skip
    proc = sandbox.cli(*args, timeout=timeout)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.returncode, report, proc.stderr


def pods(sandbox: SandboxHandle, namespace: str, selector: str) -> list[dict[str, Any]]:
    listing = sandbox.kube.list(resource_path("v1", "pods", namespace), label_selector=selector)
    return [p for p in listing["items"] if not p["metadata"].get("deletionTimestamp")]


def running_digests(sandbox: SandboxHandle, namespace: str, selector: str) -> set[str | None]:
    return {
        digest_from_image_id(s.get("imageID", ""))
        for p in pods(sandbox, namespace, selector)
        for s in p.get("status", {}).get("containerStatuses") or []
        if s.get("ready")
    }


def test_canary_runs_the_pushed_digest_and_stable_is_untouched(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    stable_before = pods(sandbox, repo.namespace, repo.selectors["stable"])

    code, report, stderr = deploy(sandbox, seeded)

    (service,) = report["services"]
    assert (code, service["result"]) == (ExitCode.OK, "succeeded"), stderr
    digest = service["digest"]
    assert digest.startswith("sha256:") and digest != seeded.digests["canary"]
    assert {digest_from_image_id(p["imageID"]) for p in service["pods"] if p["ready"]} == {digest}
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {digest}
    stable_after = pods(sandbox, repo.namespace, repo.selectors["stable"])
    assert [p["metadata"]["uid"] for p in stable_after] == [
        p["metadata"]["uid"] for p in stable_before
    ]
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {
        seeded.digests["stable"]
    }
    assert set(service["timings"]) == {"build", "resolve", "preflight", "pin", "sync", "verify"}


def test_second_run_with_changed_source_deploys_the_new_digest(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    code, first, stderr = deploy(sandbox, seeded)
    assert code == ExitCode.OK, stderr
    entrypoint = repo.context_dir / "entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + "# second revision\n")

    code, second, stderr = deploy(sandbox, seeded)

    assert code == ExitCode.OK, stderr
    new = second["services"][0]["digest"]
    assert new != first["services"][0]["digest"]
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {new}


def test_dry_run_prints_the_plan_and_writes_nothing(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    digest = seeded.digests["canary"]
    code, report, stderr = deploy(sandbox, seeded, "--dry-run", "--no-build", "--digest", digest)
    assert code == ExitCode.OK, stderr
    (service,) = report["services"]
    assert (report["result"], service["result"]) == ("planned", "planned")
    plan = service["plan"]
    patches = plan["pin"]["patch"]["spec"]["source"]["kustomize"]["patches"]
    assert f"{repo.image_repository}@{digest}" in patches[0]["patch"]
    assert plan["sync"]["operation"]["info"][1] == {"name": "pipeline-digest", "value": digest}
    app = sandbox.kube.get(
        resource_path("argoproj.io/v1alpha1", "applications", "argocd", repo.app_name)
    )
    assert "kustomize" not in app["spec"]["source"]
