"""Two deploy-canary runs on one canary (two pushes to one PR, or two PRs): the older image never
ends up running after the newer run reported success, and a superseded run exits 12.

Each run builds a different source revision (its own copy of the build context), so the two
digests differ, and runs as its own `pipeline` process, as two CI jobs would.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.services import BuildImage
from tests.integration.test_deploy_canary import (
    annotation,
    finish,
    hold_operation,
    release_operation,
    running_digests,
    start_deploy,
    wait_for_app,
)

pytestmark = pytest.mark.integration

RUN_ANNOTATION = "pipeline.dev/canary-run"


def revision(seeded: SeededSample, tmp_path: Path, name: str) -> Path:
    """A copy of the sample's build context with a change, i.e. another source revision."""
    context = tmp_path / name
    shutil.copytree(seeded.repo.context_dir, context)
    entrypoint = context / "entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + f"# revision {name}\n")
    return context


def test_older_run_is_superseded_and_the_newer_image_runs(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    hold_operation(sandbox, seeded)
    older = start_deploy(sandbox, seeded, run_id="older", context=revision(seeded, tmp_path, "a"))
    wait_for_app(sandbox, seeded, lambda a: annotation(a, RUN_ANNOTATION).endswith("-older"), "A")
    newer = start_deploy(sandbox, seeded, run_id="newer", context=revision(seeded, tmp_path, "b"))
    wait_for_app(sandbox, seeded, lambda a: annotation(a, RUN_ANNOTATION).endswith("-newer"), "B")
    release_operation(sandbox, seeded)

    old_code, old_report, old_err = finish(older)
    new_code, new_report, new_err = finish(newer)

    (old,) = old_report["services"]
    (new,) = new_report["services"]
    assert (old_code, old["reason"]) == (ExitCode.SUPERSEDED, "superseded"), old_err
    assert old["result"] == "failed" and "newer" in old["message"]
    assert (new_code, new["result"]) == (ExitCode.OK, "succeeded"), new_err
    assert old["digest"] != new["digest"]
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {new["digest"]}


def test_concurrent_runs_end_with_the_last_reported_success_running(
    sandbox: SandboxHandle,
    make_sample: Callable[..., SeededSample],
    build_image: BuildImage,
    tmp_path: Path,
) -> None:
    """No hold: the two runs race freely; whichever way it goes, what runs at the end is the
    digest of the newest run, which succeeds, and the older one succeeded first or exits 12.

    The two images are pushed beforehand (--no-build): two builds on one Docker Engine tagging
    the same canary tag at once would race on the engine's local tag, which is the builder's
    concern, not the deploy's (see the helper report)."""
    seeded = make_sample()
    repo = seeded.repo
    digests = {
        name: build_image(revision(seeded, tmp_path, name), f"{repo.image_repository}:race-{name}")
        for name in ("a", "b")
    }
    first = start_deploy(sandbox, seeded, "--no-build", "--digest", digests["a"], run_id="first")
    second = start_deploy(sandbox, seeded, "--no-build", "--digest", digests["b"], run_id="second")

    results = [finish(first), finish(second)]

    by_key = sorted(results, key=lambda r: r[1]["services"][0]["plan"]["run"]["key"])
    (old_code, old_report, old_err), (new_code, new_report, new_err) = by_key
    old, new = old_report["services"][0], new_report["services"][0]
    assert (new_code, new["result"]) == (ExitCode.OK, "succeeded"), new_err  # newest never loses
    # the older run either finished before the newer one pinned, or stood down
    assert (old_code, old["result"]) in (
        (ExitCode.OK, "succeeded"),
        (ExitCode.SUPERSEDED, "failed"),
    )
    assert {old["digest"], new["digest"]} == set(digests.values()), old_err
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {new["digest"]}
