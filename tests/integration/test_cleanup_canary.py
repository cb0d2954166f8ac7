"""`pipeline cleanup-canary` as a user runs it: only our PR's pin, idempotent, safe unpinned."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration


def targets(seeded: SeededSample) -> list[str]:
    repo = seeded.repo
    return [
        "--service", repo.namespace, "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary", "--app", repo.app_name,
        "--namespace", repo.namespace, "--selector", repo.selectors["canary"],
        "--timeout", "90",
    ]  # fmt: skip


def cleanup(
    sandbox: SandboxHandle | Backend, seeded: SeededSample, pr: str
) -> tuple[int, dict[str, Any]]:
    # no --image/--tag: like deploy-canary, cleanup reads them from the canary alias's
    # image-updater annotations; app, namespace and selector follow the defaults
    proc = sandbox.cli(
        "cleanup-canary", "--service", seeded.repo.namespace, "--timeout", "90",
        "--pr", pr, "--output", "json",
    )  # fmt: skip
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def test_cleanup_removes_only_our_pin_and_is_idempotent(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], backend: Backend
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    app_path = resource_path("argoproj.io/v1alpha1", "applications", "argocd", repo.app_name)

    code, report = cleanup(backend, seeded, "7")  # never deployed
    assert (code, report["result"]) == (0, "nothing-to-clean")

    digest = seeded.digests["canary"]
    deploy = backend.cli(
        "deploy-canary", *targets(seeded), "--context", str(repo.context_dir), "--no-build",
        "--digest", digest, "--pr", "7", "--run-id", "pr7", "--output", "json",
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stderr
    assert "kustomize" in sandbox.kube.get(app_path)["spec"]["source"]

    code, report = cleanup(backend, seeded, "8")  # another PR's cleanup leaves our pin
    assert (code, report["services"][0]["result"]) == (0, "skipped")
    assert "pinned by PR #7" in report["services"][0]["message"]
    assert "kustomize" in sandbox.kube.get(app_path)["spec"]["source"]

    code, report = cleanup(backend, seeded, "7")
    (service,) = report["services"]
    assert (code, report["result"], service["digest"]) == (0, "cleaned", digest)
    app = sandbox.kube.get(app_path)
    assert "kustomize" not in app["spec"]["source"]
    assert "pipeline.dev/canary-digest" not in (app["metadata"].get("annotations") or {})
    assert (
        service["images"] == {"app": repo.canary_image}
        or repo.canary_image in service["images"].values()
    )

    code, report = cleanup(backend, seeded, "7")  # cleaned already: no write at all
    assert (code, report["result"]) == (0, "nothing-to-clean")

    # the controller may still write status (pods terminating gracefully): compare what a
    # cleanup would write, not the resourceVersion
    def ours(obj: dict[str, Any]) -> dict[str, str]:
        annotations = obj["metadata"].get("annotations") or {}
        return {k: v for k, v in annotations.items() if k.startswith("pipeline.dev/")}

    after = sandbox.kube.get(app_path)
    assert (after["spec"], ours(after)) == (app["spec"], ours(app))
