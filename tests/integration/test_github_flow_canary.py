"""The canary workflow run against the sandbox from recorded GitHub event payloads: label ->
deploy -> comment -> synchronize -> unlabel -> cleanup, reopened, a push to the base branch, an
unlabel while a deploy runs, and two PRs deploying the same service.

A small runner executes the rendered caller (``pipeline render github-workflow``) the way
Actions does: its one job ``uses:`` the reusable workflow, which the runner loads from this
repository's ``.github/workflows/canary-reusable.yaml`` with the caller's ``with:`` as
``inputs`` (defaults from ``on.workflow_call.inputs``) and its ``secrets:`` mapping. Jobs run in
``needs`` order; ``if:`` and ``${{ }}`` expressions are parsed and evaluated (``||``/``&&``
return operands, ``!``, ``==``/``!=`` case-insensitive, ``contains``, ``fromJSON``, ``format``,
``hashFiles``, status functions, ``.*.`` filters); a job ``if:`` without a status function is
ANDed with ``success()``; matrices from ``fromJSON``; every ``run:`` step in ``bash -eo
pipefail`` with ``GITHUB_EVENT_PATH``, ``GITHUB_OUTPUT``, ``GITHUB_ENV`` and
``GITHUB_STEP_SUMMARY`` per step. Job ``concurrency`` groups are honoured across concurrent runs
as Actions does: one running job per group, one pending; a newer pending job cancels the older
pending one; ``cancel-in-progress: false`` never cancels a running one.

``uses:`` steps are emulated: checkout checks out ``with.ref``; upload-artifact copies files into
the run's artifacts (an existing name fails with 409 unless ``overwrite: true``);
download-artifact copies those matching ``pattern``; github-script's comment upsert is replayed
on an in-memory PR (find the comment starting with the marker line, update it, else create), and
so are its notices to PRs whose canary was replaced (a new comment on each PR in the file).
The "Install pipeline" step is a no-op: the project's own ``pipeline`` is on PATH. The payloads'
SHAs are replaced with the commits of the test repository.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.images import digest_from_image_id
from pipeline.sandbox.kubeclient import resource_path
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.backends import sandbox_token
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.waiting import wait_for
from tests.integration.test_detect_changes_git import commit, git

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data" / "github"
REUSABLE = ROOT / ".github" / "workflows" / "canary-reusable.yaml"
EXPR = re.compile(r"\$\{\{\s*((?:(?!\}\}).)*?)\s*\}\}", re.DOTALL)
STATUS_FUNCTIONS = ("always()", "success()", "failure()", "cancelled()")


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


# --- expressions (docs.github.com "Evaluate expressions in workflows and actions") --------
TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>\|\||&&|==|!=|[!(),\[\]])"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.(?:\*|[A-Za-z_][\w-]*))*))"
)


def tokens(expr: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"runner cannot parse {expr[pos:]!r}"
        kind = m.lastgroup or ""
        found.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(expr) and expr[pos].isspace():
            pos += 1
    return found


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value != []


def loose_equal(left: Any, right: Any) -> bool:
    def norm(v: Any) -> Any:
        if isinstance(v, bool):
            return str(v).lower()
        return "" if v is None else (str(v).lower() if not isinstance(v, (dict, list)) else v)

    return bool(norm(left) == norm(right))


class Expression:
    """A recursive-descent evaluator for the expression subset the shipped workflows use."""

    def __init__(self, expr: str, ctx: dict[str, Any], functions: dict[str, Callable[..., Any]]):
        self.toks, self.i, self.ctx, self.functions = tokens(expr), 0, ctx, functions

    def value(self) -> Any:
        result = self.or_()
        assert self.i == len(self.toks), f"trailing tokens {self.toks[self.i :]}"
        return result

    def peek(self) -> str:
        return self.toks[self.i][1] if self.i < len(self.toks) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        assert expected is None or tok[1] == expected, f"expected {expected}, got {tok}"
        self.i += 1
        return tok

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.not_()
        while self.peek() == "&&":
            self.take()
            right = self.not_()
            left = right if truthy(left) else left
        return left

    def not_(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.not_())
        return self.compare()

    def compare(self) -> Any:
        left = self.primary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            equal = loose_equal(left, self.primary())
            return equal if op == "==" else not equal
        return left

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == "(":
            self.take("(")
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take(",")
            self.take(")")
            return self.functions[text.lower()](*args)
        return lookup(self.ctx, text)


def lookup(ctx: Any, path: str) -> Any:
    current: Any = ctx
    parts = path.split(".")
    for index, part in enumerate(parts):
        if part == "*":
            items = current if isinstance(current, list) else []
            rest = ".".join(parts[index + 1 :])
            return [lookup(item, rest) if rest else item for item in items]
        current = current.get(part) if isinstance(current, dict) else None
    return current


class Groups:
    """Actions' concurrency groups across runs: one running job per group and one pending; a
    newer pending job cancels the older pending one; a running job is never cancelled."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.running: dict[str, object] = {}
        self.pending: dict[str, object] = {}
        self.cancelled: set[int] = set()
        self.events: list[tuple[str, str, str]] = []  # (run, job, "queued"|"start"|"end"|...)
        # a test may keep a job holding its group after its steps ended, until a condition
        # holds: the job is then "still running" when another run's job arrives
        self.hold: Callable[[str, str], bool] | None = None

    def note(self, run: str, job: str, what: str) -> None:
        with self.cond:
            self.events.append((run, job, what))
            self.cond.notify_all()

    def acquire(self, group: str, ticket: object) -> bool:
        with self.cond:
            if group not in self.running and group not in self.pending:
                self.running[group] = ticket
                return True
            older = self.pending.get(group)
            if older is not None:
                self.cancelled.add(id(older))
            self.pending[group] = ticket
            self.cond.notify_all()
            while True:
                if id(ticket) in self.cancelled:
                    return False
                if group not in self.running and self.pending.get(group) is ticket:
                    del self.pending[group]
                    self.running[group] = ticket
                    return True
                self.cond.wait(timeout=1)

    def release(self, group: str, ticket: object) -> None:
        with self.cond:
            if self.running.get(group) is ticket:
                del self.running[group]
            self.cond.notify_all()


@dataclass
class Run:
    name: str
    caller: dict[str, Any]
    event_name: str
    event: dict[str, Any]
    origin: Path  # the test repository; every job works in its own clone
    secrets: dict[str, str]
    temp: Path
    comments: list[dict[str, Any]]
    groups: Groups
    closed: set[str] = field(default_factory=set)  # PRs closed (or merged) so far
    env: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # per job label, by step id
    logs: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempt: int = 1  # "Re-run all jobs": the same run, its artifacts kept

    # --- expressions -------------------------------------------------------------------
    def evaluate(self, expr: str, ctx: dict[str, Any]) -> Any:
        workspace = ctx.get("_workspace", self.origin)
        functions: dict[str, Callable[..., Any]] = {
            "always": lambda: True,
            "success": lambda: bool(ctx["_success"]),
            "failure": lambda: not ctx["_success"],
            "cancelled": lambda: False,
            "contains": lambda hay, needle: (
                any(loose_equal(h, needle) for h in hay)
                if isinstance(hay, list)
                else str(needle).lower() in str(hay or "").lower()
            ),
            "startswith": lambda s, p: str(s).lower().startswith(str(p).lower()),
            "fromjson": lambda text: json.loads(text),
            "tojson": lambda value: json.dumps(value),
            "format": lambda fmt, *a: re.sub(r"\{(\d+)\}", lambda m: str(a[int(m.group(1))]), fmt),
            "hashfiles": lambda pattern: "h" if (workspace / pattern).exists() else "",
        }
        return Expression(expr, ctx, functions).value()

    def interpolate(self, text: Any, ctx: dict[str, Any]) -> Any:
        if not isinstance(text, str):
            return text
        if m := EXPR.fullmatch(text.strip()):
            value = self.evaluate(m.group(1), ctx)
            return value if isinstance(value, (dict, list)) else self._text(value)
        return EXPR.sub(lambda m: self._text(self.evaluate(m.group(1), ctx)), text)

    @staticmethod
    def _text(value: Any) -> str:
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value)

    def condition(self, text: Any, ctx: dict[str, Any]) -> bool:
        if text is None:
            return bool(ctx["_success"])
        text = str(text)
        inner = EXPR.fullmatch(text.strip())
        expr = inner.group(1) if inner else text
        if not any(f in expr for f in STATUS_FUNCTIONS):
            expr = f"success() && ({expr})"  # the implicit status check
        return truthy(self.evaluate(expr, ctx))

    # --- the run -------------------------------------------------------------------------
    def github(self) -> dict[str, Any]:
        pr = self.event.get("pull_request") or {}
        ref = f"refs/pull/{pr['number']}/merge" if pr else str(self.event["ref"])
        return {
            "event": self.event, "event_name": self.event_name,
            "repository": self.event["repository"]["full_name"],
            "ref": ref, "ref_name": ref.removeprefix("refs/heads/"),
            "base_ref": (pr.get("base") or {}).get("ref", ""), "head_ref": "",
            "sha": pr["merge_commit_sha"] if pr else self.event["after"],
        }  # fmt: skip

    def run(self, env: dict[str, str]) -> None:
        event_path = self.temp / "event.json"
        event_path.write_text(json.dumps(self.event))
        github = self.github()
        self.env = {
            **env,
            "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_EVENT_NAME": self.event_name,
            "GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": github["repository"],
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": f"9100{self.name[3:]}",
            "GITHUB_RUN_ATTEMPT": str(self.attempt), "GITHUB_REF": github["ref"],
            "GITHUB_SHA": github["sha"], "RUNNER_TEMP": str(self.temp),
        }  # fmt: skip
        self.groups.note(self.name, "run", "start")
        if self.event_name == "pull_request" and self.event["action"] in ("closed", "reopened"):
            number = str(self.event["pull_request"]["number"])
            (self.closed.add if self.event["action"] == "closed" else self.closed.discard)(number)
        ((_, caller_job),) = self.caller["jobs"].items()
        ctx = {"github": github, "secrets": self.secrets, "vars": {}, "_success": True}
        self.run_reusable(caller_job, ctx)
        self.groups.note(self.name, "run", "end")

    def run_reusable(self, caller_job: dict[str, Any], caller_ctx: dict[str, Any]) -> None:
        path, _, _ref = caller_job["uses"].partition("@")
        assert path.endswith("/.github/workflows/canary-reusable.yaml"), path
        self.workflow = yaml.safe_load(REUSABLE.read_text())
        declared = self.workflow[True]["workflow_call"]
        inputs = {k: v.get("default") for k, v in declared["inputs"].items()}
        given = {k: self.interpolate(v, caller_ctx) for k, v in caller_job["with"].items()}
        assert set(given) <= set(inputs), set(given) - set(inputs)
        assert {k for k, v in declared["inputs"].items() if v.get("required")} <= set(given)
        self.inputs = {**inputs, **given}
        self.called_secrets = {
            k: self.interpolate(v, caller_ctx) for k, v in (caller_job.get("secrets") or {}).items()
        }
        self.github_ctx = caller_ctx["github"]
        for name in self.workflow["jobs"]:
            self.run_job(name)

    def context(self, job: dict[str, Any], needs_ok: bool) -> dict[str, Any]:
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        return {
            "github": self.github_ctx, "inputs": self.inputs, "secrets": self.called_secrets,
            "vars": {}, "steps": {}, "matrix": {}, "_success": needs_ok,
            "needs": {n: {"outputs": self.jobs[n]["outputs"], "result": self.jobs[n]["result"]}
                      for n in needs},
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
        for index, combo in enumerate(combos):
            ctx = self.context(job, needs_ok)
            ctx["matrix"] = combo
            label = f"{name}-{index}"
            group = self.interpolate((job.get("concurrency") or {}).get("group"), ctx)
            ticket = object()
            if group:
                self.groups.note(self.name, label, "queued")
                if not self.groups.acquire(group, ticket):
                    self.groups.note(self.name, label, "cancelled")
                    results.append("cancelled")
                    continue
            self.groups.note(self.name, label, "start")
            try:
                ok = self.run_steps(label, job, ctx)
            finally:
                self.groups.note(self.name, label, "end")
                self.held(label)
                if group:
                    self.groups.release(group, ticket)
            results.append("success" if ok else "failure")
            outputs = {k: self.interpolate(v, ctx) for k, v in (job.get("outputs") or {}).items()}
        result = "failure" if "failure" in results else (
            "cancelled" if "cancelled" in results else "success")  # fmt: skip
        self.jobs[name] = {"result": result, "outputs": outputs}

    def held(self, label: str) -> None:
        hold = self.groups.hold
        if hold is not None:
            wait_for(f"{self.name}/{label} to be released", lambda: hold(self.name, label), 240)

    def run_steps(self, label: str, job: dict[str, Any], ctx: dict[str, Any]) -> bool:
        workspace = self.temp / f"{label}-attempt{self.attempt}"
        subprocess.run(["git", "clone", "-q", "--shared", str(self.origin), str(workspace)],
                       check=True, capture_output=True)  # fmt: skip
        ctx["_workspace"] = workspace
        github_env: dict[str, str] = {}
        ctx["_success"] = True
        base_env = {
            **self.env, "GITHUB_WORKSPACE": str(workspace),
            **{k: self.interpolate(v, ctx) for k, v in (self.workflow.get("env") or {}).items()},
        }  # fmt: skip
        for index, step in enumerate(job["steps"]):
            if not self.condition(step.get("if"), ctx):
                continue
            step_env = {k: self.interpolate(v, ctx) for k, v in (step.get("env") or {}).items()}
            files = {n: workspace.parent / f"{workspace.name}-{index}-{n}"
                     for n in ("output", "env", "summary")}  # fmt: skip
            for path in files.values():
                path.write_text("")
            env = {
                **base_env, **github_env, **step_env, "GITHUB_OUTPUT": str(files["output"]),
                "GITHUB_ENV": str(files["env"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
            }  # fmt: skip
            if "uses" in step:
                ok = self.emulate(step, ctx, env, workspace)
            elif step.get("name") == "Install pipeline":
                ok = True
            else:
                proc = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                    cwd=workspace, env=env, capture_output=True, text=True, timeout=240,
                )  # fmt: skip
                name = step.get("id") or step.get("name")
                with self.lock:
                    self.logs.append(
                        f"[{label}/{name}] exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
                    )
                ok = proc.returncode == 0
            github_env.update(parse_outputs(files["env"]))
            job_name = label.rsplit("-", 1)[0]
            self.summaries[job_name] = (
                self.summaries.get(job_name, "") + files["summary"].read_text()
            )
            if step.get("id"):
                ctx["steps"][step["id"]] = {"outputs": parse_outputs(files["output"]),
                                            "outcome": "success" if ok else "failure"}  # fmt: skip
                self.steps.setdefault(label, {})[step["id"]] = ctx["steps"][step["id"]]
            ctx["_success"] = ctx["_success"] and ok
        return bool(ctx["_success"])

    def emulate(
        self, step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str], workspace: Path
    ) -> bool:
        action = step["uses"].split("@")[0]
        args = {k: self.interpolate(v, ctx) for k, v in (step.get("with") or {}).items()}
        artifacts = self.temp / "artifacts"
        if action == "actions/checkout":
            git(workspace, "checkout", "-q", args["ref"])
        elif action == "actions/upload-artifact":
            source, target = workspace / args["path"], artifacts / args["name"]
            if source.exists():
                if target.exists() and str(args.get("overwrite")).lower() != "true":
                    return False  # 409 Conflict: an artifact with this name exists
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)
        elif action == "actions/download-artifact":
            target = workspace / args["path"]
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            for artifact in sorted(artifacts.iterdir()) if artifacts.exists() else []:
                if fnmatch.fnmatch(artifact.name, args["pattern"]):
                    shutil.copytree(artifact, target, dirs_exist_ok=True)
        elif action == "actions/github-script" and "COMMENT_FILE" in env:
            body = (workspace / env["COMMENT_FILE"]).read_text()
            marker = body.split("\n")[0]
            with self.lock:
                ours = [
                    c for c in self.comments
                    if c["body"].startswith(marker) and c["pr"] == env["PR_NUMBER"]
                ]  # fmt: skip
                if ours:
                    ours[0].update(body=body, updates=ours[0]["updates"] + 1)
                else:
                    self.comments.append({"body": body, "updates": 0, "pr": env["PR_NUMBER"]})
        elif action == "actions/github-script" and "NOTICES_FILE" in env:
            notices = json.loads((workspace / env["NOTICES_FILE"]).read_text())
            with self.lock:  # only open PRs are told (pulls.get(...).state == 'open')
                self.comments += [
                    {"body": n["body"], "updates": 0, "pr": str(n["pr"])}
                    for n in notices
                    if str(n["pr"]) not in self.closed
                ]
        return True


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


@dataclass
class Shop:
    """A monorepo with one service, its pipeline.yaml, the rendered caller and the sandbox."""

    sandbox: SandboxHandle
    seeded: SeededSample
    origin: Path
    tmp: Path
    caller: dict[str, Any]
    base: str
    groups: Groups = field(default_factory=Groups)
    comments: list[dict[str, Any]] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)
    secrets: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    @property
    def service(self) -> str:
        return self.seeded.repo.namespace

    @property
    def entrypoint(self) -> Path:
        return self.origin / "services" / self.service / "entrypoint.sh"

    def change(self, branch: str, message: str, start: str | None = None) -> str:
        git(self.origin, "checkout", "-q", *(["-B", branch, start] if start else [branch]))
        self.entrypoint.write_text(self.entrypoint.read_text() + f"# {message}\n")
        return commit(self.origin, message)

    def app(self) -> dict[str, Any]:
        path = resource_path("argoproj.io/v1alpha1", "applications", "argocd",
                             self.seeded.repo.app_name)  # fmt: skip
        app: dict[str, Any] = self.sandbox.kube.get(path)
        return app

    def pinned(self) -> str | None:
        annotations = self.app()["metadata"].get("annotations") or {}
        return annotations.get("pipeline.dev/canary-digest")

    def comment(self, pr: str, marker: str = "<!-- pipeline:canary -->\n") -> str:
        (found,) = [c for c in self.comments if c["pr"] == pr and c["body"].startswith(marker)]
        return str(found["body"])

    def notices(self, pr: str) -> list[str]:
        """The comments telling PR ``pr`` that another run replaced its canary."""
        return [
            c["body"]
            for c in self.comments
            if c["pr"] == pr and c["body"].startswith("<!-- pipeline:canary-replaced -->")
        ]

    def start(self, payload: str, head: str, event_name: str = "pull_request") -> Run:
        self.runs += 1
        temp = self.tmp / f"run{self.runs}-{payload.split('.')[1]}"
        temp.mkdir()
        text = (DATA / payload).read_text()
        for placeholder, sha in {"HEAD_SHA": head, "BASE_SHA": self.base}.items():
            text = text.replace(placeholder, sha)
        return Run(
            name=f"run{self.runs}", caller=self.caller, event_name=event_name,
            event=json.loads(text), origin=self.origin, secrets=dict(self.secrets), temp=temp,
            comments=self.comments, groups=self.groups, closed=self.closed,
        )  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                "DOCKER_HOST": self.sandbox.docker_host, "HOME": str(self.tmp),
                **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}  # fmt: skip

    def run(self, payload: str, head: str, event_name: str = "pull_request") -> Run:
        run = self.start(payload, head, event_name)
        run.run(self.env())
        return run

    def rerun(self, run: Run) -> Run:
        again = replace(run, attempt=run.attempt + 1, jobs={}, summaries={}, steps={}, logs=[])
        again.run(self.env())
        return again

    def background(self, run: Run) -> threading.Thread:
        thread = threading.Thread(target=run.run, args=(self.env(),), daemon=True)
        thread.start()
        return thread

    def saw(self, run: Run, job: str, what: str) -> bool:
        return (run.name, job, what) in self.groups.events

    def order(self, run: Run, job: str, what: str) -> int:
        return self.groups.events.index((run.name, job, what))


@pytest.fixture
def shop(sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path) -> Shop:
    seeded = make_sample()
    repo, service = seeded.repo, seeded.repo.namespace
    origin = tmp_path / "shop"
    shutil.copytree(repo.context_dir, origin / "services" / service)
    config = {
        "image": repo.image_repository, "tag": "{service}-api-dev-canary",
        "app": "dev-api-{service}", "namespace": "{service}",
        "selector": "app={service}-api,version=v2", "timeout": 90,
        "services": [{"name": service, "context": f"services/{service}"}],
        "paths": {service: [f"services/{service}/**"]},
        "ci": {"base_branches": ["main"], "rebuild_on_push": True, "cache": "none",
               "registry_username_secret": "DOCKERHUB_USERNAME",
               "registry_password_secret": "DOCKERHUB_TOKEN"},
               # the default backend: the Argo CD API, secrets ARGOCD_SERVER/ARGOCD_AUTH_TOKEN
    }  # fmt: skip
    (origin / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    git(origin, "init", "-q", "-b", "main")
    base = commit(origin, "base")
    rendered = subprocess.run(
        [sys.executable, "-m", "pipeline", "render", "github-workflow"],
        cwd=origin, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    shop = Shop(sandbox, seeded, origin, tmp_path, yaml.safe_load(rendered), base)
    token = sandbox_token(sandbox, "--project", "default", "--role", "ci")
    shop.secrets = {"ARGOCD_SERVER": token["server"], "ARGOCD_AUTH_TOKEN": token["token"],
                    "DOCKERHUB_USERNAME": "", "DOCKERHUB_TOKEN": "unused"}  # fmt: skip
    return shop


def results(run: Run) -> dict[str, str]:
    return {k: v["result"] for k, v in run.jobs.items()}


def test_label_synchronize_unlabel_reopen_push(shop: Shop) -> None:
    service, repo = shop.service, shop.seeded.repo
    head = shop.change("token-refresh", "token refresh", start="main")

    # 1. label: plan -> deploy (matrix of one) -> comment
    labeled = shop.run("pull_request.labeled.json", head)
    logs = "\n".join(labeled.logs)
    assert labeled.jobs["plan"]["outputs"]["action"] == "deploy", logs
    assert results(labeled) == {
        "plan": "success", "deploy": "success", "cleanup": "skipped", "comment": "success",
    }, logs  # fmt: skip
    app = shop.app()
    digest = app["metadata"]["annotations"]["pipeline.dev/canary-digest"]
    assert (
        f"{repo.image_repository}@{digest}"
        in app["spec"]["source"]["kustomize"]["patches"][0]["patch"]
    )
    assert canary_digests(shop.sandbox, shop.seeded) == {digest}
    assert "### Canary deploy" in labeled.summaries["deploy"]
    assert f"| {service} | succeeded |" in labeled.summaries["deploy"]
    assert "**deploy**: label 'canary' added" in labeled.summaries["plan"]
    assert f"| {service} | :white_check_mark: succeeded | `{digest[:19]}`" in shop.comment("42")

    # 2. new commits: redeployed, the same comment updated in place
    head2 = shop.change("token-refresh", "second push")
    synced = shop.run("pull_request.synchronize.json", head2)
    assert synced.jobs["deploy"]["result"] == "success", "\n".join(synced.logs)
    digest2 = shop.pinned()
    assert digest2 and digest2 != digest and canary_digests(shop.sandbox, shop.seeded) == {digest2}
    assert len(shop.comments) == 1 and shop.comments[0]["updates"] == 1
    assert digest2[:19] in shop.comment("42")

    # 2b. "Re-run all jobs": the report artifacts exist already; overwrite: true lets the
    # upload replace them (without it: 409 Conflict), and the redeploy succeeds
    rerun = shop.rerun(synced)
    assert results(rerun) == {
        "plan": "success", "deploy": "success", "cleanup": "skipped", "comment": "success",
    }, "\n".join(rerun.logs)  # fmt: skip
    digest2 = shop.pinned()
    assert digest2 and digest2[:19] in shop.comment("42")

    # 3. unlabel: plan -> cleanup (matrix over the services) -> comment
    unlabeled = shop.run("pull_request.unlabeled.json", head2)
    assert unlabeled.jobs["plan"]["outputs"]["action"] == "cleanup"
    assert results(unlabeled) == {
        "plan": "success", "deploy": "skipped", "cleanup": "success", "comment": "success",
    }, "\n".join(unlabeled.logs)  # fmt: skip
    app = shop.app()
    assert "kustomize" not in app["spec"]["source"]
    assert not {"pipeline.dev/canary-run", "pipeline.dev/canary-digest"} & set(
        app["metadata"].get("annotations") or {}
    )
    deployments = shop.sandbox.kube.list(resource_path("apps/v1", "deployments", repo.namespace))
    images = {d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in deployments["items"]}  # fmt: skip
    assert repo.canary_image in images and not any(digest2 in i for i in images)
    assert "### Canary cleanup (PR #42)" in unlabeled.summaries["cleanup"]
    assert "### Canary removed" in shop.comment("42") and len(shop.comments) == 1

    # 4. reopened while labelled: deployed again
    reopened = shop.run("pull_request.reopened.json", head2)
    assert reopened.jobs["plan"]["outputs"]["action"] == "deploy", "\n".join(reopened.logs)
    assert reopened.jobs["deploy"]["result"] == "success", "\n".join(reopened.logs)
    assert "reopened" in reopened.summaries["plan"]
    reopened_digest = shop.pinned()
    assert reopened_digest and canary_digests(shop.sandbox, shop.seeded) == {reopened_digest}

    # 5. closed without the label: the first job's `if:` skips everything (no checkout)
    closed = shop.run("pull_request.closed.json", head2)
    assert set(results(closed).values()) == {"skipped"}
    assert closed.logs == []

    # 6. the PR merged: a push to the base branch rebuilds and redeploys the canary, no comment
    git(shop.origin, "checkout", "-q", "main")
    git(shop.origin, "merge", "-q", "--no-ff", "-m", "merge token refresh", "token-refresh")
    merged = git(shop.origin, "rev-parse", "HEAD")
    pushed = shop.run("push.main.json", merged, event_name="push")
    assert results(pushed) == {
        "plan": "success", "deploy": "success", "cleanup": "skipped", "comment": "success",
    }, "\n".join(pushed.logs)  # fmt: skip
    assert pushed.jobs["plan"]["outputs"]["pr"] == ""
    assert pushed.jobs["plan"]["outputs"]["head-sha"] == merged
    push_digest = shop.pinned()
    assert push_digest and canary_digests(shop.sandbox, shop.seeded) == {push_digest}
    assert f"| {service} | succeeded |" in pushed.summaries["deploy"]
    # nothing posted for a push: the canary it replaced was merged PR 42's (told only if open)
    assert pushed.steps["deploy-0"]["deploy"]["outputs"]["replaced-pr"] == "42"
    assert len(shop.comments) == 1

    # 7. a fork without secrets: the plan runs and says why it skips; nothing deployed
    shop.secrets = {}
    fork = shop.run("pull_request.labeled.fork.json", head2)
    assert fork.jobs["plan"]["result"] == "success"
    assert fork.jobs["plan"]["outputs"]["action"] == "skip"
    assert fork.jobs["deploy"]["result"] == "skipped"
    assert "no deploy secrets (PR from a fork)" in fork.summaries["plan"]
    assert shop.pinned() == push_digest


def test_unlabel_during_a_deploy_waits_for_it(shop: Shop) -> None:
    head = shop.change("token-refresh", "token refresh", start="main")
    deploying = shop.start("pull_request.labeled.json", head)
    unlabeling = shop.start("pull_request.unlabeled.json", head)
    # the deploy holds its group until the cleanup has queued: the unlabel arrives mid-deploy
    shop.groups.hold = lambda run, job: (
        (run, job) != (deploying.name, "deploy-0") or shop.saw(unlabeling, "cleanup-0", "queued")
    )
    first = shop.background(deploying)
    wait_for("the deploy job to start", lambda: shop.saw(deploying, "deploy-0", "start"), 120)
    second = shop.background(unlabeling)
    for thread in (first, second):
        thread.join(timeout=240)
        assert not thread.is_alive()
    # the cleanup started only after the deploy ended, and removed what the deploy pinned
    assert shop.order(unlabeling, "cleanup-0", "start") > shop.order(deploying, "deploy-0", "end")
    assert results(deploying)["deploy"] == "success", "\n".join(deploying.logs)
    assert results(unlabeling)["cleanup"] == "success", "\n".join(unlabeling.logs)
    app = shop.app()
    assert "kustomize" not in app["spec"]["source"] and shop.pinned() is None
    assert "### Canary removed" in shop.comment("42")


def test_two_prs_on_one_service_the_later_wins(shop: Shop) -> None:
    head42 = shop.change("token-refresh", "token refresh", start="main")
    head43 = shop.change("other-change", "other change", start="main")
    head42b = shop.change("token-refresh", "token refresh, second push")
    # PR 42 deploys; PR 43 queues behind it; a new push to PR 42 queues too and replaces
    # PR 43's pending deploy (one pending job per group), which is told it was superseded
    a = shop.start("pull_request.labeled.json", head42)
    b = shop.start("pull_request.labeled.pr43.json", head43)
    c = shop.start("pull_request.synchronize.json", head42b)
    # PR 42's first deploy holds the service's group until the other two have queued
    shop.groups.hold = lambda run, job: (
        (run, job) != (a.name, "deploy-0") or shop.saw(c, "deploy-0", "queued")
    )
    threads = [shop.background(a)]
    wait_for("PR 42's deploy to start", lambda: shop.saw(a, "deploy-0", "start"), 120)
    threads.append(shop.background(b))
    wait_for("PR 43's deploy to queue", lambda: shop.saw(b, "deploy-0", "queued"), 120)
    threads.append(shop.background(c))
    for thread in threads:
        thread.join(timeout=280)
        assert not thread.is_alive()
    logs = "\n".join(a.logs + b.logs + c.logs)
    assert (results(a)["deploy"], results(b)["deploy"], results(c)["deploy"]) == (
        "success", "cancelled", "success"), logs  # fmt: skip
    assert shop.order(c, "deploy-0", "start") > shop.order(a, "deploy-0", "end")
    assert "**Superseded**" in shop.comment("43")
    final = shop.pinned()
    assert final and final[:19] in shop.comment("42")
    shop.groups.hold = None
    assert canary_digests(shop.sandbox, shop.seeded) == {final}

    # PR 42's second deploy replaced its own canary: nobody is told
    assert shop.notices("42") == [] and shop.notices("43") == []
    assert results(c)["comment"] == "success"
    assert c.steps["deploy-0"]["deploy"]["outputs"]["replaced-pr"] == ""

    # PR 43 re-labelled later: it deploys after PR 42's finished canary and wins; PR 42 is
    # told, in a comment of its own, that PR 43 replaced its canary
    again = shop.run("pull_request.labeled.pr43.json", head43)
    logs = "\n".join(again.logs)
    assert results(again) == {
        "plan": "success", "deploy": "success", "cleanup": "skipped", "comment": "success",
    }, logs  # fmt: skip
    latest = shop.pinned()
    assert latest and latest != final and latest[:19] in shop.comment("43")
    app = shop.app()
    assert f"@{latest}" in app["spec"]["source"]["kustomize"]["patches"][0]["patch"]
    assert canary_digests(shop.sandbox, shop.seeded) == {latest}
    service = shop.service
    outputs = again.steps["deploy-0"]["deploy"]["outputs"]
    assert (outputs["replaced-pr"], outputs[f"replaced-pr-{service}"]) == ("42", "42")
    (report,) = json.loads(outputs["report"])["services"]
    assert (report["replaced_pr"], report["digest"]) == ("42", latest)
    assert f"**{service}**: replaced the canary of PR #42" in again.summaries["deploy"]
    assert f"- {service}: this canary replaced PR #42's" in shop.comment("43")
    (notice,) = shop.notices("42")
    assert notice.splitlines()[1] == "### Canary replaced by PR #43"
    assert f"| {service} | `{latest[:19]}` | succeeded |" in notice
    assert "push a commit to it or re-run its canary workflow" in notice
    assert shop.notices("43") == []
