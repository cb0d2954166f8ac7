"""Issue 13's corpus of bad inputs, each run as a real deploy (build and push enabled) against
a sandbox sample: the documented exit code, no traceback, and nothing written and nothing
pushed, checked by the Application's resourceVersion and the canary tag's registry digest.

The runs of one sample go concurrently (each is a separate process; a refused run writes
nothing, so they cannot disturb each other); every case is then its own test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.adapters.registry import RegistryClient
from pipeline.core.images import parse_image_ref
from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_deploy_canary import app_path

pytestmark = pytest.mark.integration
U = "argocd-image-updater.argoproj.io/"
USAGE = int(ExitCode.USAGE)


@dataclass(frozen=True)
class Case:
    """``args`` after ``deploy-canary --service SVC --context CTX``; ``files`` written in the
    run's directory first; ``names``: what stderr must contain ({svc} filled in)."""

    id: str
    args: tuple[str, ...]
    code: int
    names: tuple[str, ...]
    files: tuple[tuple[str, bytes], ...] = ()
    sample: str = "plain"  # plain | bad-allow-tags | bad-strategy


CASES = [
    Case("timeout-nan", ("--timeout", "nan"), USAGE, ("--timeout must be a finite number",)),
    Case("timeout-inf", ("--timeout", "inf"), USAGE, ("--timeout must be a finite number",)),
    Case("timeout-zero", ("--timeout", "0"), USAGE, ("--timeout must be more than 0",)),
    Case("timeout-negative", ("--timeout", "-1"), USAGE, ("--timeout must be more than 0",)),
    Case("settle-negative", ("--settle", "-1"), USAGE, ("--settle must be 0 or more",)),
    Case("restarts-negative", ("--crashloop-restarts", "-1"), USAGE,
         ("--crashloop-restarts must be 0 or more",)),
    Case("selector-double-comma", ("--selector", "a=b,,c=d"), USAGE,
         ("invalid label selector 'a=b,,c=d'", "found ',' at character 5")),
    Case("missing-app", ("--app", "nope-{service}"), USAGE,
         ("Application argocd/nope-{svc}", "does not exist")),
    Case("unknown-alias", ("--alias", "nope"), USAGE, ("no image alias 'nope'",)),
    Case("unicode-tag", ("--tag", "tägé"), USAGE, ("bad tag 'tägé'",)),
    Case("digest-newline", ("--no-build", "--digest", "sha256:" + "a" * 64 + "\n"), USAGE,
         ("invalid digest",)),
    Case("registry-ca-missing", ("--registry-ca", "/nonexistent.pem"), USAGE,
         ("--registry-ca /nonexistent.pem does not exist",)),
    Case("registry-ca-not-pem", ("--registry-ca", "{tmp}/junk.pem"), USAGE,
         ("holds no readable PEM certificate",), (("junk.pem", b"junk\n"),)),
    Case("context-missing", ("--context", "/nonexistent"), USAGE,
         ("build context /nonexistent", "does not exist")),
    Case("file-outside-context", ("--file", "../../../../etc/passwd"), USAGE,
         ("is outside the build context",)),
    Case("config-timeout-text", ("--config", "{tmp}/pipeline.yaml"), USAGE,
         ("'timeout' must be a number",), (("pipeline.yaml", b"timeout: abc\n"),)),
    Case("config-settle-list", ("--config", "{tmp}/pipeline.yaml"), USAGE,
         ("'settle' must be a number",), (("pipeline.yaml", b"settle: [1, 2]\n"),)),
    Case("config-image-list", ("--config", "{tmp}/pipeline.yaml"), USAGE,
         ("'image' must be a string",), (("pipeline.yaml", b"image: [a, b]\n"),)),
    Case("config-binary", ("--config", "{tmp}/pipeline.yaml"), USAGE,
         ("(line 1, column 8): a binary value",),
         (("pipeline.yaml", b"image: !!binary aGVsbG8=\n"),)),
    Case("config-not-utf8", ("--config", "{tmp}/pipeline.yaml"), USAGE,
         ("is not UTF-8 text (line 2",), (("pipeline.yaml", b"timeout: 30\ntag: caf\xe9\n"),)),
    Case("allow-tags-invalid-regexp", (), USAGE,
         (f"{U}canary.allow-tags", "does not compile"), sample="bad-allow-tags"),
    Case("allow-tags-invalid-regexp-with-image", ("--image", "{repository}"), USAGE,
         (f"{U}canary.allow-tags", "does not compile"), sample="bad-allow-tags"),
    Case("bad-strategy-with-image", ("--image", "{repository}"), USAGE,
         (f"{U}canary.update-strategy",), sample="bad-strategy"),
]  # fmt: skip
BAD_ANNOTATIONS = {
    "bad-allow-tags": {f"{U}canary.allow-tags": "regexp:(?=v)v1"},
    "bad-strategy": {f"{U}canary.update-strategy": "digets"},
}


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def canary_digest(seeded: SeededSample) -> str:
    repo = seeded.repo
    tag = parse_image_ref(f"{repo.image_repository}:{repo.namespace}-api-dev-canary")
    return RegistryClient().head_digest(tag).digest


def run_case(
    case: Case, sandbox: SandboxHandle, seeded: SeededSample, root: Path
) -> subprocess.CompletedProcess[str]:
    directory = root / case.id
    directory.mkdir()
    for name, data in case.files:
        (directory / name).write_bytes(data)
    repo = seeded.repo
    values = {"tmp": str(directory), "svc": repo.namespace, "repository": repo.image_repository}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "GITHUB_"))}
    env.update(KUBECONFIG=str(sandbox.kubeconfig), DOCKER_HOST=sandbox.docker_host)
    args = ["--service", repo.namespace, "--context", str(repo.context_dir), "--timeout", "60"]
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "deploy-canary", *args,
         *(fill(a, values) for a in case.args)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def corpus(
    sandbox: SandboxHandle,
    make_sample: Callable[..., SeededSample],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[subprocess.CompletedProcess[str], SeededSample, dict[str, Any]]]:
    samples = {name: make_sample() for name in ("plain", *BAD_ANNOTATIONS)}
    for name, bad in BAD_ANNOTATIONS.items():
        sandbox.kube.patch(app_path(samples[name]), {"metadata": {"annotations": bad}})
    before = {
        name: {
            "resourceVersion": sandbox.kube.get(app_path(s))["metadata"]["resourceVersion"],
            "digest": canary_digest(s),
        }
        for name, s in samples.items()
    }
    root = tmp_path_factory.mktemp("nothing-written")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c.id: pool.submit(run_case, c, sandbox, samples[c.sample], root) for c in CASES}
        return {c.id: (futures[c.id].result(), samples[c.sample], before[c.sample]) for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_writes_and_pushes_nothing(
    case: Case,
    sandbox: SandboxHandle,
    corpus: dict[str, tuple[subprocess.CompletedProcess[str], SeededSample, dict[str, Any]]],
) -> None:
    proc, seeded, before = corpus[case.id]
    shown = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == case.code, shown
    for name in case.names:
        assert fill(name, {"svc": seeded.repo.namespace}) in proc.stderr + proc.stdout, shown
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    app = sandbox.kube.get(app_path(seeded))
    assert app["metadata"]["resourceVersion"] == before["resourceVersion"], "written"
    assert canary_digest(seeded) == before["digest"], "pushed"
