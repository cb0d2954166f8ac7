"""The canary workflow, label -> deploy -> comment -> synchronize -> unlabel -> cleanup, run
against the sandbox from recorded ``pull_request`` payloads.

A small runner executes the rendered ``.github/workflows`` file the way Actions does: jobs in
``needs`` order, ``if:`` and ``${{ }}`` expressions evaluated from the event, job outputs and
step outputs, matrix from ``fromJSON``, every ``run:`` step in ``bash -eo pipefail`` with
``GITHUB_EVENT_PATH``, ``GITHUB_OUTPUT``, ``GITHUB_ENV`` and ``GITHUB_STEP_SUMMARY`` set per step
as Actions sets them. ``uses:`` steps are emulated: checkout checks out ``with.ref``,
upload/download-artifact copy files, github-script's comment upsert is replayed on an in-memory
PR (find the comment starting with the marker line, update it, else create). The "Install
pipeline" step is a no-op: the project's own ``pipeline`` is on PATH. The payloads' SHAs are
replaced with the commits of the test repository.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.images import digest_from_image_id
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.integration.test_detect_changes_git import commit, git

pytestmark = pytest.mark.integration
DATA = Path(__file__).parent / "data" / "github"
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def parse_outputs(path: Path) -> dict[str, str]:
    """``$GITHUB_OUTPUT`` / ``$GITHUB_ENV`` files: ``k=v`` lines and ``k<<DELIM`` heredocs."""
    values: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        if "<<" in lines[i] and ("=" not in lines[i] or lines[i].index("<<") < lines[i].index("=")):
            name, delimiter = lines[i].split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, _, value = lines[i].partition("=")
            values[name] = value
            i += 1
    return values


@dataclass
class Run:
    workflow: dict[str, Any]
    event: dict[str, Any]
    workspace: Path
    secrets: dict[str, str]
    temp: Path
    artifacts: Path
    comments: list[dict[str, Any]]
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)

    # --- expressions -------------------------------------------------------------------
    def lookup(self, path: str, ctx: dict[str, Any]) -> Any:
        current: Any = ctx
        for part in path.split("."):
            current = current.get(part, "") if isinstance(current, dict) else ""
        return current

    def evaluate(self, expr: str, ctx: dict[str, Any]) -> Any:
        expr = expr.strip()
        if "||" in expr:
            return any(self.truthy(self.evaluate(p, ctx)) for p in expr.split("||"))
        if "&&" in expr:
            return all(self.truthy(self.evaluate(p, ctx)) for p in expr.split("&&"))
        for op in ("==", "!="):
            if op in expr:
                left, right = (self.evaluate(p, ctx) for p in expr.split(op, 1))
                equal = str(left).lower() == str(right).lower()
                return equal if op == "==" else not equal
        if expr in ("always()", "success()"):
            return True if expr == "always()" else ctx["_success"]
        if m := re.fullmatch(r"fromJSON\((.*)\)", expr):
            return json.loads(self.evaluate(m.group(1), ctx))
        if m := re.fullmatch(r"hashFiles\('(.*)'\)", expr):
            return "h" if (self.workspace / m.group(1)).exists() else ""
        if m := re.fullmatch(r"'(.*)'", expr):
            return m.group(1)
        assert re.fullmatch(r"[\w.-]+", expr), f"runner cannot evaluate {expr!r}"
        return self.lookup(expr, ctx)

    def truthy(self, value: Any) -> bool:
        return bool(value) and value != "false"

    def interpolate(self, text: Any, ctx: dict[str, Any]) -> Any:
        if not isinstance(text, str):
            return text
        if m := EXPR.fullmatch(text.strip()):
            value = self.evaluate(m.group(1), ctx)
            return value if isinstance(value, dict) else self._text(value)
        return EXPR.sub(lambda m: self._text(self.evaluate(m.group(1), ctx)), text)

    @staticmethod
    def _text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    def condition(self, text: Any, ctx: dict[str, Any]) -> bool:
        if text is None:
            return bool(ctx["_success"])
        text = str(text)
        inner = EXPR.fullmatch(text.strip())
        return self.truthy(self.evaluate(inner.group(1) if inner else text, ctx))

    # --- jobs ----------------------------------------------------------------------------
    def run(self, env: dict[str, str]) -> None:
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(self.event))
        pr = self.event["pull_request"]
        self.env = {
            **env,
            "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_REPOSITORY": self.event["repository"]["full_name"],
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "9100042",
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REF": f"refs/pull/{pr['number']}/merge",
            "GITHUB_SHA": pr["merge_commit_sha"], "RUNNER_TEMP": str(self.temp),
        }  # fmt: skip
        for name in self.workflow["jobs"]:
            self.run_job(name)

    def context(self, job: dict[str, Any], needs_ok: bool) -> dict[str, Any]:
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        return {
            "github": {"event": self.event, "repository": self.event["repository"]["full_name"]},
            "needs": {n: {"outputs": self.jobs[n]["outputs"], "result": self.jobs[n]["result"]}
                      for n in needs},
            "secrets": self.secrets, "vars": {"CANARY_REGISTRY_USERNAME": ""},
            "steps": {}, "matrix": {}, "_success": needs_ok,
        }  # fmt: skip

    def run_job(self, name: str) -> None:
        job = self.workflow["jobs"][name]
        needs = job.get("needs", [])
        needs_ok = all(
            self.jobs[n]["result"] == "success"
            for n in ([needs] if isinstance(needs, str) else needs)
        )
        ctx = self.context(job, needs_ok)
        if not self.condition(job.get("if"), ctx):
            self.jobs[name] = {"result": "skipped", "outputs": {}}
            return
        matrix = self.interpolate((job.get("strategy") or {}).get("matrix"), ctx)
        combos = (matrix or {}).get("include") or [{}]
        results, outputs = [], {}
        for combo in combos:
            ctx = self.context(job, needs_ok)
            ctx["matrix"] = combo
            ok = self.run_steps(name, job, ctx)
            results.append(ok)
            outputs = {k: self.interpolate(v, ctx) for k, v in (job.get("outputs") or {}).items()}
        self.jobs[name] = {"result": "success" if all(results) else "failure", "outputs": outputs}

    def run_steps(self, job_name: str, job: dict[str, Any], ctx: dict[str, Any]) -> bool:
        github_env: dict[str, str] = {}
        ctx["_success"] = True
        base_env = {
            **self.env,
            **{k: self.interpolate(v, ctx) for k, v in (self.workflow.get("env") or {}).items()},
        }
        for index, step in enumerate(job["steps"]):
            if not self.condition(step.get("if"), ctx):
                continue
            step_env = {k: self.interpolate(v, ctx) for k, v in (step.get("env") or {}).items()}
            files = {n: self.temp / f"{job_name}-{index}-{n}" for n in ("output", "env", "summary")}
            for path in files.values():
                path.write_text("")
            env = {
                **base_env, **github_env, **step_env, "GITHUB_OUTPUT": str(files["output"]),
                "GITHUB_ENV": str(files["env"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
            }  # fmt: skip
            if "uses" in step:
                ok = self.emulate(step, ctx, env)
            elif step.get("name") == "Install pipeline":
                ok = True
            else:
                proc = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                    cwd=self.workspace,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=240,
                )
                self.logs.append(f"[{job_name}/{step.get('id') or step.get('name')}] exit "
                                 f"{proc.returncode}\n{proc.stdout}\n{proc.stderr}")  # fmt: skip
                ok = proc.returncode == 0
            github_env.update(parse_outputs(files["env"]))
            self.summaries[job_name] = (
                self.summaries.get(job_name, "") + files["summary"].read_text()
            )
            if step.get("id"):
                ctx["steps"][step["id"]] = {"outputs": parse_outputs(files["output"]),
                                            "outcome": "success" if ok else "failure"}  # fmt: skip
            ctx["_success"] = ctx["_success"] and ok
        return bool(ctx["_success"])

    def emulate(self, step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str]) -> bool:
        action = step["uses"].split("@")[0]
        args = {k: self.interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            git(self.workspace, "checkout", "-q", args["ref"])
        elif action == "actions/upload-artifact":
            source = self.workspace / args["path"]
            if source.exists():
                shutil.copytree(source, self.artifacts / args["name"], dirs_exist_ok=True)
        elif action == "actions/download-artifact":
            target = self.workspace / args["path"]
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for artifact in sorted(self.artifacts.iterdir()) if self.artifacts.exists() else []:
                if fnmatch.fnmatch(artifact.name, args["pattern"]):
                    shutil.copytree(artifact, target, dirs_exist_ok=True)
        elif action == "actions/github-script":
            body = (self.workspace / env["COMMENT_FILE"]).read_text()
            marker = body.split("\n")[0]
            ours = [c for c in self.comments if c["body"].startswith(marker)]
            if ours:
                ours[0].update(body=body, updates=ours[0]["updates"] + 1)
            else:
                self.comments.append({"body": body, "updates": 0, "pr": env["PR_NUMBER"]})
        return True


def run_workflow(workflow: dict[str, Any], payload: str, shas: dict[str, str], **kw: Any) -> Run:
    text = (DATA / payload).read_text()
    for placeholder, sha in shas.items():
        text = text.replace(placeholder, sha)
    env = kw.pop("env")
    run = Run(workflow=workflow, event=json.loads(text), **kw)
    run.run(env)
    return run


def canary_digests(sandbox: SandboxHandle, seeded: SeededSample) -> set[str | None]:
    listing = sandbox.kube.list(
        resource_path("v1", "pods", seeded.repo.namespace),
        label_selector=seeded.repo.selectors["canary"],
    )
    return {
        digest_from_image_id(s.get("imageID", ""))
        for p in listing["items"] if not p["metadata"].get("deletionTimestamp")
        for s in p.get("status", {}).get("containerStatuses") or [] if s.get("ready")
    }  # fmt: skip


def test_label_deploy_comment_unlabel_cleanup(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path
) -> None:
    seeded = make_sample()
    repo, service = seeded.repo, seeded.repo.namespace
    app_path = resource_path("argoproj.io/v1alpha1", "applications", "argocd", repo.app_name)
    workspace = tmp_path / "shop"
    shutil.copytree(repo.context_dir, workspace / "services" / service)
    config = {
        "image": repo.image_repository, "tag": "{service}-api-dev-canary",
        "app": "dev-api-{service}", "namespace": "{service}",
        "selector": "app={service}-api,version=v2", "timeout": 90,
        "services": [{"name": service, "context": f"services/{service}"}],
        "paths": {service: [f"services/{service}/**"]},
    }  # fmt: skip
    (workspace / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(workspace, "init", "-q", "-b", "main")
    base = commit(workspace, "base")
    git(workspace, "checkout", "-q", "-b", "token-refresh")
    entrypoint = workspace / "services" / service / "entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + "# token refresh\n")
    head = commit(workspace, "token refresh")
    rendered = subprocess.run(
        [sys.executable, "-m", "pipeline", "render", "github-workflow"],
        cwd=workspace,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    workflow = yaml.safe_load(rendered)
    comments: list[dict[str, Any]] = []
    common = {
        "workspace": workspace, "comments": comments, "artifacts": tmp_path / "artifacts",
        "secrets": {"CANARY_KUBECONFIG": sandbox.kubeconfig.read_text(),
                    "CANARY_REGISTRY_PASSWORD": "unused"},
        "env": {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "DOCKER_HOST": sandbox.docker_host, "HOME": str(tmp_path),
                **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}},
    }  # fmt: skip

    def run(payload: str, head_sha: str, name: str) -> Run:
        temp = tmp_path / name
        temp.mkdir()
        shas = {"HEAD_SHA": head_sha, "BASE_SHA": base}
        return run_workflow(workflow, payload, shas, temp=temp, **dict(common))

    # 1. label: plan -> deploy (matrix of one) -> comment
    labeled = run("pull_request.labeled.json", head, "labeled")
    logs = "\n".join(labeled.logs)
    assert labeled.jobs["plan"]["outputs"]["action"] == "deploy", logs
    assert {k: v["result"] for k, v in labeled.jobs.items()} == {
        "plan": "success", "deploy": "success", "comment": "success", "cleanup": "skipped",
    }, logs  # fmt: skip
    app = sandbox.kube.get(app_path)
    digest = app["metadata"]["annotations"]["pipeline.dev/canary-digest"]
    assert (
        f"{repo.image_repository}@{digest}"
        in app["spec"]["source"]["kustomize"]["patches"][0]["patch"]
    )
    assert canary_digests(sandbox, seeded) == {digest}
    assert "### Canary deploy" in labeled.summaries["deploy"]
    assert f"| {service} | succeeded |" in labeled.summaries["deploy"]
    assert "**deploy**: label 'canary' added" in labeled.summaries["plan"]
    (comment,) = comments
    assert (
        comment["pr"] == "42"
        and f"| {service} | :white_check_mark: succeeded | `{digest[:19]}`" in comment["body"]
    )

    # 2. new commits: redeployed, the same comment updated in place
    entrypoint.write_text(entrypoint.read_text() + "# second push\n")
    head2 = commit(workspace, "second push")
    synced = run("pull_request.synchronize.json", head2, "synchronize")
    assert synced.jobs["deploy"]["result"] == "success", "\n".join(synced.logs)
    digest2 = sandbox.kube.get(app_path)["metadata"]["annotations"]["pipeline.dev/canary-digest"]
    assert digest2 != digest and canary_digests(sandbox, seeded) == {digest2}
    assert (
        len(comments) == 1 and comments[0]["updates"] == 1 and digest2[:19] in comments[0]["body"]
    )

    # 3. unlabel: plan -> cleanup (our pin removed, canary back to what git says) -> comment
    unlabeled = run("pull_request.unlabeled.json", head2, "unlabeled")
    assert unlabeled.jobs["plan"]["outputs"]["action"] == "cleanup"
    assert unlabeled.jobs["cleanup"]["result"] == "success", "\n".join(unlabeled.logs)
    assert unlabeled.jobs["deploy"]["result"] == "skipped"
    app = sandbox.kube.get(app_path)
    assert "kustomize" not in app["spec"]["source"]
    assert not {"pipeline.dev/canary-run", "pipeline.dev/canary-digest"} & set(
        app["metadata"].get("annotations") or {}
    )
    deployments = sandbox.kube.list(resource_path("apps/v1", "deployments", repo.namespace))[
        "items"
    ]
    images = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in deployments
    }
    assert repo.canary_image in images.values() and not any(digest2 in i for i in images.values())
    assert "### Canary cleanup (PR #42)" in unlabeled.summaries["cleanup"]
    assert "### Canary removed" in comments[0]["body"] and len(comments) == 1

    # 4. closing a PR without the label does nothing; 5. a fork without secrets is skipped
    closed = run("pull_request.closed.json", head2, "closed")
    assert closed.jobs["plan"]["outputs"]["action"] == "none"
    assert {closed.jobs[j]["result"] for j in ("deploy", "comment", "cleanup")} == {"skipped"}
    common["secrets"] = {}
    fork = run("pull_request.labeled.fork.json", head2, "fork")
    assert fork.jobs["plan"] == {"result": "success", "outputs": fork.jobs["plan"]["outputs"]}
    assert fork.jobs["plan"]["outputs"]["action"] == "skip"
    assert fork.jobs["deploy"]["result"] == "skipped"
    assert "no deploy secrets (PR from a fork)" in fork.summaries["plan"]
    assert "kustomize" not in sandbox.kube.get(app_path)["spec"]["source"]
