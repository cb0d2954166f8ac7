"""deploy-canary replaces an existing ``kustomize.images`` entry of a canary-specific image name
and records it; cleanup-canary puts it back: the Application's list is the original again and
the canary pod runs the original image again."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.sandbox.sample import commit_all
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import app_path, running_digests, wait_for_app

pytestmark = pytest.mark.integration
U = "argocd-image-updater.argoproj.io/"
CANARY_NAME = "eco2-canary"  # the canary Deployment's image name in git, set by kustomize


def use_canary_image_name(sandbox: SandboxHandle, seeded: SeededSample) -> list[str]:
    """Give the canary its own image name in git and set it from the Application, the way
    image-updater's ``<alias>.kustomize.image-name`` setups look; returns the images list."""
    repo = seeded.repo
    manifest = Path(repo.path) / "base" / "deployment-canary.yaml"
    manifest.write_text(manifest.read_text().replace(repo.canary_image, CANARY_NAME))
    commit_all(repo.path, "canary image has its own name")
    images = [f"{CANARY_NAME}={repo.canary_image}"]
    sandbox.kube.patch(
        app_path(seeded),
        {
            "metadata": {"annotations": {f"{U}canary.kustomize.image-name": CANARY_NAME}},
            "spec": {"source": {"kustomize": {"images": images}}},
        },
    )
    return images


def wait_for_digests(
    sandbox: SandboxHandle, seeded: SeededSample, expected: set[str | None], timeout: float = 60
) -> None:
    repo = seeded.repo
    deadline = time.monotonic() + timeout
    seen: set[str | None] = set()
    while time.monotonic() < deadline:
        seen = running_digests(sandbox, repo.namespace, repo.selectors["canary"])
        if seen == expected:
            return
        time.sleep(0.2)  # polling a condition with a deadline, not a synchronisation sleep
    pytest.fail(f"canary pods run {seen}, expected {expected}")


def test_cleanup_restores_the_replaced_kustomize_image_entry(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    original = use_canary_image_name(sandbox, seeded)
    pinned = seeded.digests["stable"]  # another image of the same repository: the tag stays put

    deploy = sandbox.cli(
        "deploy-canary", "--service", repo.namespace, "--context", str(repo.context_dir),
        "--no-build", "--digest", pinned, "--pr", "9", "--run-id", "restore",
        "--timeout", "90", "--output", "json", timeout=150,
    )  # fmt: skip
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    (service,) = json.loads(deploy.stdout)["services"]
    assert service["timings"].keys() >= {"pin", "sync", "verify"}
    app = sandbox.kube.get(app_path(seeded))
    assert app["spec"]["source"]["kustomize"]["images"] == [
        f"{CANARY_NAME}={repo.canary_image}@{pinned}"
    ]
    assert json.loads(app["metadata"]["annotations"]["pipeline.dev/canary-previous"]) == {
        "field": "spec.source.kustomize.images",
        "entries": original,
    }
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {pinned}

    cleanup = sandbox.cli(
        "cleanup-canary", "--service", repo.namespace, "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary", "--pr", "9", "--timeout", "90", "--output", "json",
    )  # fmt: skip

    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    report = json.loads(cleanup.stdout)
    assert (report["result"], report["services"][0]["restored"]) == ("cleaned", original)
    app = sandbox.kube.get(app_path(seeded))
    assert app["spec"]["source"]["kustomize"]["images"] == original
    assert not {
        "pipeline.dev/canary-previous",
        "pipeline.dev/canary-digest",
    } & set(app["metadata"].get("annotations") or {})
    wait_for_app(
        sandbox,
        seeded,
        lambda a: a.get("status", {}).get("sync", {}).get("status") == "Synced",
        "the restored Application to be in sync",
    )
    wait_for_digests(sandbox, seeded, {seeded.digests["canary"]})
