"""Several services in one deploy-canary invocation: they run concurrently, one failure does not
hide the other's success, the exit code is the worst one, and the JSON lists every service.

The services come from a pipeline.yaml (each with its own build context), as a repository with
several services configures it; the flags give the shared templates.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeline.core.images import digest_from_image_id
from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import running_digests

pytestmark = pytest.mark.integration


def crashing_context(seeded: SeededSample, tmp_path: Path) -> Path:
    context = tmp_path / "crashing"
    shutil.copytree(seeded.repo.context_dir, context)
    (context / "entrypoint.sh").write_text('echo "broken build: exiting" >&2\nexit 3\n')
    return context


def test_one_crashing_service_does_not_hide_the_other(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path
) -> None:
    good, bad = make_sample(), make_sample()
    config = tmp_path / "pipeline.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "image": good.repo.image_repository,
                "tag": "{service}-api-dev-canary",
                "app": "dev-api-{service}",
                "namespace": "{service}",
                "selector": "app={service}-api,version=v2",
                "services": [
                    {"name": good.repo.namespace, "context": str(good.repo.context_dir)},
                    {"name": bad.repo.namespace, "context": str(crashing_context(bad, tmp_path))},
                ],
            }
        )
    )

    proc = sandbox.cli(
        "deploy-canary", "--config", str(config), "--timeout", "90", "--run-id", "multi",
        "--output", "json", timeout=150,
    )  # fmt: skip

    report = json.loads(proc.stdout)
    assert proc.returncode == report["exit_code"] == ExitCode.CRASH_LOOP, proc.stderr
    assert report["result"] == "failed"
    ok, crashed = report["services"]
    assert (ok["service"], ok["result"], ok["exit_code"]) == (
        good.repo.namespace,
        "succeeded",
        ExitCode.OK,
    )
    assert (crashed["service"], crashed["reason"], crashed["exit_code"]) == (
        bad.repo.namespace,
        "crash-loop",
        ExitCode.CRASH_LOOP,
    )
    assert "broken build: exiting" in crashed["diagnostics"]["logs"]
    assert running_digests(sandbox, good.repo.namespace, good.repo.selectors["canary"]) == {
        ok["digest"]
    }
    assert {digest_from_image_id(p["imageID"]) for p in ok["pods"] if p["ready"]} == {ok["digest"]}
    # the crashing canary never became the running one; stable of both untouched
    assert crashed["digest"] not in running_digests(
        sandbox, bad.repo.namespace, bad.repo.selectors["canary"]
    )
    for seeded in (good, bad):
        assert running_digests(sandbox, seeded.repo.namespace, seeded.repo.selectors["stable"]) == {
            seeded.digests["stable"]
        }
    # both ran at once: each one's verify overlaps the other's build or verify
    assert set(ok["timings"]) == set(crashed["timings"]) == {
        "build", "push", "resolve", "preflight", "pin", "sync", "verify"
    }  # fmt: skip
