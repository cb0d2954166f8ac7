"""Issue 13: deploy the canary, deploy the stable alias, deploy the canary again, clean up.

cleanup-canary must restore exactly what preceded this PR's first canary pin (the image in
git) and touch nothing else: the stable pin and its digest stay, and the canary does not go
back to the first PR image (it did: the second canary pin took the first for what it
replaced, because the stable pin had overwritten ``canary-digest`` in between).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pipeline.sandbox.seed import SeededSample, build_sample_image
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_cleanup_restore import wait_for_digests
from tests.integration.test_deploy_canary import app_path, running_digests

pytestmark = pytest.mark.integration


def deploy(
    sandbox: SandboxHandle, seeded: SeededSample, digest: str, run: str, *extra: str
) -> dict[str, object]:
    repo = seeded.repo
    proc = sandbox.cli(
        "deploy-canary", "--service", repo.namespace, "--context", str(repo.context_dir),
        "--no-build", "--digest", digest, "--pr", "13", "--run-id", run,
        "--timeout", "90", "--output", "json", *extra, timeout=150,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (service,) = json.loads(proc.stdout)["services"]
    assert isinstance(service, dict)
    return service


def test_cleanup_after_a_stable_alias_deploy_restores_git_and_keeps_the_stable_pin(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    original_canary, original_stable = seeded.digests["canary"], seeded.digests["stable"]
    first = original_stable  # the first PR image: another image of the same repository
    second, stable = (
        build_sample_image(
            repo, f"{repo.image_repository}:{name}", sandbox.docker_host, revision=name
        )
        for name in ("issue13-second", "issue13-stable")
    )
    assert len({original_canary, first, second, stable}) == 4

    deploy(sandbox, seeded, first, "first")
    deploy(
        sandbox, seeded, stable, "stable", "--alias", "stable",
        "--selector", repo.selectors["stable"],
    )  # fmt: skip
    deploy(sandbox, seeded, second, "second")
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {second}
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {stable}

    cleanup = sandbox.cli(
        "cleanup-canary", "--service", repo.namespace, "--pr", "13", "--timeout", "90",
        "--output", "json", timeout=150,
    )  # fmt: skip

    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    report = json.loads(cleanup.stdout)
    (service,) = report["services"]
    assert (report["result"], service["restored"]) == ("cleaned", []), report
    assert service["digest"] == second
    app = sandbox.kube.get(app_path(seeded))
    spec = json.dumps(app["spec"])
    assert stable in spec and second not in spec and first not in spec
    assert app["metadata"]["annotations"]["pipeline.dev/canary-digest"] == stable
    wait_for_digests(sandbox, seeded, {original_canary})  # the image in git, not `first`
    assert running_digests(sandbox, repo.namespace, repo.selectors["stable"]) == {stable}

    again = sandbox.cli(
        "cleanup-canary", "--service", repo.namespace, "--pr", "13", "--timeout", "90",
        "--output", "json", timeout=150,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["result"] == "nothing-to-clean"
    assert sandbox.kube.get(app_path(seeded))["spec"] == app["spec"]
