"""`pipeline deploy-canary` as a user runs it, against the sandbox, the real registry and Docker.

Each test seeds its own sample service (own namespace, Application and images) so tests never
depend on each other's leftovers.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.images import digest_from_image_id
from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import Backend
from tests.fixtures.sandbox import PIPELINE, SandboxHandle

pytestmark = pytest.mark.integration


def deploy(
    sandbox: SandboxHandle, seeded: SeededSample, *extra: str, timeout: float = 120,
    via: Backend | None = None,
) -> tuple[int, dict[str, Any], str]:  # fmt: skip
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
    proc = via.cli(*args, timeout=timeout) if via else sandbox.cli(*args, timeout=timeout)
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
    assert set(service["timings"]) == {
        "build",
        "push",
        "resolve",
        "preflight",
        "pin",
        "sync",
        "verify",
    }


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


# -- helpers shared by the other deploy tests -------------------------------------------------

APPS = "argoproj.io/v1alpha1"
HOLD_REVISION = "no-such-revision-held-by-test"


def app_path(seeded: SeededSample) -> str:
    return resource_path(APPS, "applications", "argocd", seeded.repo.app_name)


def wait_for_app(
    sandbox: SandboxHandle,
    seeded: SeededSample,
    done: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 60,
) -> dict[str, Any]:
    return sandbox.wait_application(seeded.repo.app_name, done, what, timeout)


def annotation(app: dict[str, Any], key: str) -> str:
    return str((app["metadata"].get("annotations") or {}).get(key, ""))


def hold_operation(sandbox: SandboxHandle, seeded: SeededSample) -> None:
    """Put an Argo CD operation in progress that stays so until ``release_operation``: a sync of
    a revision that does not exist, retried after an hour (Running with finishedAt = waiting to
    retry). A deploy started meanwhile pins, then waits for it (docs/deploy-canary.md, sync)."""
    operation = {
        "initiatedBy": {"username": "test-hold"},
        "sync": {"revision": HOLD_REVISION},
        "retry": {"limit": 5, "backoff": {"duration": "1h"}},
    }
    sandbox.kube.patch(app_path(seeded), {"operation": operation})
    wait_for_app(
        sandbox,
        seeded,
        lambda a: (
            (a.get("status", {}).get("operationState") or {}).get("phase") == "Running"
            and bool((a.get("status", {}).get("operationState") or {}).get("finishedAt"))
        ),
        "the held operation to wait for its retry",
    )


def release_operation(sandbox: SandboxHandle, seeded: SeededSample) -> None:
    """Terminate the held operation, the way `argocd app terminate-op` does."""
    sandbox.kube.patch(app_path(seeded), {"status": {"operationState": {"phase": "Terminating"}}})


def start_deploy(
    sandbox: SandboxHandle, seeded: SeededSample, *extra: str, run_id: str = "test",
    context: Path | None = None, via: Backend | None = None,
) -> subprocess.Popen[str]:  # fmt: skip
    """Start `pipeline deploy-canary --output json` in the background."""
    repo = seeded.repo
    args = [
        *PIPELINE, "deploy-canary",
        "--service", repo.namespace,
        "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary",
        "--context", str(context or repo.context_dir),
        "--app", repo.app_name,
        "--namespace", repo.namespace,
        "--selector", repo.selectors["canary"],
        "--timeout", "90",
        "--run-id", run_id,
        "--output", "json",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig), "DOCKER_HOST": sandbox.docker_host}
    if via is not None:
        env = via.env
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, dict[str, Any], str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {proc.returncode}):\n{stdout}\n{stderr}")
    return proc.returncode, report, stderr


GH_ENTRY = re.compile(
    r"(?P<name>[a-z0-9-]+)<<(?P<delim>ghadelimiter_[0-9a-f]{16})\n(?P<value>.*?)\n(?P=delim)\n",
    re.S,
)


def test_github_output_writes_step_outputs_and_a_summary_table(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path
) -> None:
    seeded = make_sample()
    repo = seeded.repo
    digest = seeded.digests["canary"]
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.write_text("earlier=kept\n")
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = subprocess.run(
        [
            *PIPELINE, "deploy-canary", "--service", repo.namespace,
            "--image", repo.image_repository, "--tag", "{service}-api-dev-canary",
            "--no-build", "--digest", digest, "--run-id", "gh", "--output", "github",
        ],
        env={**os.environ, **env, "KUBECONFIG": str(sandbox.kubeconfig)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == ExitCode.OK, proc.stderr + proc.stdout

    text = output.read_text()
    assert text.startswith("earlier=kept\n")  # appended, never truncated
    entries = list(GH_ENTRY.finditer(text, len("earlier=kept\n")))
    assert "".join(m.group(0) for m in entries) == text[len("earlier=kept\n") :]
    values = {m.group("name"): m.group("value") for m in entries}
    image = f"{repo.image_repository}:{repo.namespace}-api-dev-canary"
    assert list(values) == [
        "digest", "image", "result", "exit-code", "replaced-pr", "report",
        f"digest-{repo.namespace}", f"result-{repo.namespace}", f"replaced-pr-{repo.namespace}",
    ]  # fmt: skip
    assert json.loads(values["report"])["backend"]["name"] == "kubernetes"
    assert (values["digest"], values["image"], values["result"]) == (digest, image, "succeeded")
    assert (values["exit-code"], values[f"digest-{repo.namespace}"]) == ("0", digest)
    assert json.loads(values["report"])["services"][0]["digest"] == digest

    lines = summary.read_text().splitlines()
    assert lines[:4] == [
        "### Canary deploy",
        "",
        "| Service | Result | Reason | Image | Digest | Pods | Seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    cells = [c.strip() for c in lines[4].strip("|").split("|")]
    assert cells[:5] == [repo.namespace, "succeeded", "deployed", f"`{image}`", f"`{digest[:19]}`"]
    assert "(ready)" in cells[5] and float(cells[6]) > 0
    assert lines[5:] == ["", "Exit code: 0", ""]
    assert f"[{repo.namespace}] succeeded" in proc.stdout
