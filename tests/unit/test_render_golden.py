"""`pipeline render`: golden output, drift of the shipped files, injection attempts rejected."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import cli, run
from pipeline.errors import ExitCode, UsageError
from pipeline.render.comment import (
    MARKER,
    REPLACED_MARKER,
    render_comment,
    replaced_notices,
    report_outputs,
)
from pipeline.render.context import build_context
from pipeline.render.engine import BACKENDS, SHIPPED, TARGETS, render

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
EXAMPLE = ROOT / "workflow-templates" / "pipeline.example.yaml"


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((GOLDEN / "pipeline.yaml").read_text())
    return loaded


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_rendered_output_matches_golden(target: str) -> None:
    assert render(target, build_context(config())) == (GOLDEN / f"{target}.yaml").read_text()


def command_of(target: str) -> list[str]:
    """The ``pipeline render`` arguments that render a target (a backend of another's)."""
    for command, backends in BACKENDS.items():
        for backend, name in backends.items():
            if name == target and name != command:
                return [command, "--backend", backend]
    return [target]


@pytest.mark.parametrize("target", sorted(SHIPPED))
def test_shipped_files_are_the_rendered_output(target: str) -> None:
    result = CliRunner().invoke(
        cli,
        ["render", *command_of(target), "--config", str(EXAMPLE),
         "--check", str(ROOT / SHIPPED[target])],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_check_reports_drift_with_its_own_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    drifted = tmp_path / "canary-reusable.yaml"
    drifted.write_text((ROOT / SHIPPED["reusable-workflow"]).read_text().replace("30", "31"))
    code = run(["render", "reusable-workflow", "--config", str(EXAMPLE), "--check", str(drifted)])
    assert code == ExitCode.DRIFT == 15
    err = capsys.readouterr().err
    assert f"error: {drifted} drifted from {EXAMPLE}" in err
    assert f"--output-file {drifted}" in err


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["services"].append({"name": "x;rm -rf /"}), "service name 'x;rm -rf /'"),
        (lambda c: c["paths"].update({'a"\n  evil: 1': ["a/**"]}), "is not a DNS label"),
        (lambda c: c["paths"]["auth"].append("$(curl x)/**"), "path glob of service 'auth'"),
        (lambda c: c["paths"]["auth"].append("a b/**"), "'a b/**' may only contain"),
        (lambda c: c["paths"]["auth"].append("../**"), "without '..'"),
        (lambda c: c["paths"]["users"].append("${{ github.token }}"), "service 'users'"),
        (lambda c: c.update(image="reg.io/x\nkind: Secret"), "image of service 'auth'"),
        (lambda c: c["ci"].update(label="canary' || true"), "ci.label"),
        (lambda c: c["ci"].update(poll_schedule="* * * * * ; id"), "ci.poll_schedule"),
        (lambda c: c.update(namespace="{service}-`id`"), "namespace of service 'auth'"),
        (lambda c: c["ci"].update(pull_secrets=['argocd/x"]\n- evil']), "ci.pull_secrets entry"),
        (lambda c: c["ci"].update(pull_secrets="argocd/x"), "ci.pull_secrets must be a list"),
    ],
)
def test_injection_attempts_are_rejected_naming_the_input(change: Any, named: str) -> None:
    unsafe = copy.deepcopy(config())
    change(unsafe)
    with pytest.raises(UsageError, match="unsafe value") as caught:
        build_context(unsafe)
    assert named in caught.value.message


def test_every_problem_is_reported_at_once() -> None:
    unsafe = copy.deepcopy(config())
    unsafe["paths"]["auth"] = ["$x", "`y`"]
    unsafe["ci"]["label"] = "a;b"
    with pytest.raises(UsageError, match="3 unsafe value"):
        build_context(unsafe)


def test_build_targets_are_fixed_by_the_template() -> None:
    """A submitter picks a service from an enum; what it builds and pushes is in the template."""
    doc = yaml.safe_load(render("workflow-template", build_context(config())))
    parameters = doc["spec"]["arguments"]["parameters"]
    assert [p["name"] for p in parameters] == ["service", "revision", "pr"]
    assert parameters[0]["enum"] == ["auth", "users"]
    (build,) = [t for t in doc["spec"]["templates"] if t["name"] == "build"]
    script = build["container"]["args"][0]
    assert (
        "auth) context='services/auth' file='Dockerfile' "
        "image='registry.example.com/acme/shop:auth-dev-canary' ;;" in script
    )
    assert "{{inputs" not in script and "targets" not in json.dumps(doc)


def test_caller_maps_the_adopting_teams_secrets_and_branches() -> None:
    doc = yaml.safe_load(render("github-workflow", build_context(config())))
    assert doc[True]["pull_request"] == {
        "types": ["labeled", "unlabeled", "synchronize", "reopened", "closed"],
        "branches": ["develop"],
    }
    assert doc[True]["push"] == {"branches": ["develop"]}
    job = doc["jobs"]["canary"]
    assert job["uses"] == (
        "acme/argocd-canary/.github/workflows/canary-reusable.yaml"
        "@0123456789abcdef0123456789abcdef01234567"
    )
    assert job["with"]["pipeline-ref"] == "0123456789abcdef0123456789abcdef01234567"
    assert json.loads(job["with"]["base-branches"]) == ["develop"]
    assert job["with"]["rebuild-on-push"] is True
    assert job["secrets"] == {
        "argocd-server": "${{ secrets.ARGOCD_SERVER }}",
        "argocd-auth-token": "${{ secrets.ARGOCD_AUTH_TOKEN }}",
        "registry-username": "${{ secrets.DOCKERHUB_USERNAME }}",
        "registry-password": "${{ secrets.DOCKERHUB_TOKEN }}",
    }
    with_kubeconfig = copy.deepcopy(config())
    with_kubeconfig["ci"].update(kubeconfig_secret="CANARY_KUBECONFIG", argocd_server_secret="AS")
    secrets = yaml.safe_load(render("github-workflow", build_context(with_kubeconfig)))["jobs"][
        "canary"
    ]["secrets"]
    assert secrets["kubeconfig"] == "${{ secrets.CANARY_KUBECONFIG }}"
    assert secrets["argocd-server"] == "${{ secrets.AS }}"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["ci"].update(tool_ref="main"), "ci.tool_ref 'main'"),
        (lambda c: c["ci"].update(registry_password_secret="X }}"), "ci.registry_password_secret"),
        (lambda c: c["ci"].update(cache="s3"), "ci.cache 's3'"),
        (lambda c: c["ci"].update(cache="registry"), "ci.cache_repository"),
        (lambda c: c["ci"].update(base_branches=None), "ci.rebuild_on_push needs"),
        (lambda c: c["ci"].update(base_branches=["a b"]), "ci.base_branches entry"),
        (lambda c: c["ci"].update(tool_repository="a/b/c"), "ci.tool_repository"),
        (lambda c: c["ci"].update(argocd_token_secret="T }}"), "ci.argocd_token_secret"),
        (lambda c: c["ci"].update(kubeconfig_secret="a-b"), "ci.kubeconfig_secret"),
        (lambda c: c["ci"].update(argocd_account="ci, role:admin"), "ci.argocd_account"),
        (lambda c: c["ci"].update(argocd_account="a" * 33), "longer than 32"),
        (lambda c: c["ci"].update(argocd_project="p, allow"), "ci.argocd_project"),
        (lambda c: c["ci"].update(argocd_secret="Argo_CD"), "ci.argocd_secret"),
        (lambda c: c.update(app="x, */*, allow\np, role:ci"), "app of service 'auth'"),
    ],
)
def test_ci_settings_are_validated(change: Any, named: str) -> None:
    bad = copy.deepcopy(config())
    change(bad)
    with pytest.raises(UsageError, match="unsafe value") as caught:
        build_context(bad)
    assert named in caught.value.message


def _deploy_report(result: str, message: str = "") -> dict[str, Any]:
    pods = [{"name": "p", "imageID": "x@sha256:" + "a" * 64, "ready": result == "succeeded"}]
    return {
        "schema_version": 1,
        "result": result,
        "exit_code": 0 if result == "succeeded" else 9,
        "services": [
            {"service": "auth", "digest": "sha256:" + "a" * 64, "result": result,
             "reason": "deployed" if result == "succeeded" else "image-pull",
             "message": message, "pods": pods},
        ],
    }  # fmt: skip


def test_pr_comment_is_golden_and_escapes_html() -> None:
    failed = _deploy_report("failed", "pull <script>x</script> | failed\nline two")
    comment = render_comment([failed], head_sha="0123456789abcdef")
    assert comment.splitlines()[0] == MARKER
    assert comment == (GOLDEN / "pr-comment-failed.md").read_text()
    assert "<script>" not in comment


def test_pr_comment_for_cleanup_and_no_report() -> None:
    cleanup = {
        "schema_version": 1, "command": "cleanup-canary", "result": "cleaned", "pr": "7",
        "services": [{"service": "auth", "result": "cleaned", "reason": "unpinned",
                      "digest": "sha256:" + "b" * 64, "message": ""}],
    }  # fmt: skip
    assert "| auth | cleaned | `sha256:bbbbbbbbbbbb` | unpinned |" in render_comment([cleanup])
    assert "No canary report" in render_comment([])


def test_report_outputs_for_argo() -> None:
    assert report_outputs(_deploy_report("succeeded")) == {
        "digest": "sha256:" + "a" * 64,
        "result": "succeeded",
        "exit-code": "0",
    }


def test_report_outputs_command_writes_files(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps(_deploy_report("succeeded")))
    result = CliRunner().invoke(
        cli,
        ["render", "report-outputs", "--report", str(report), "--output-dir", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "result").read_text() == "succeeded"
    missing = CliRunner().invoke(
        cli, ["render", "report-outputs", "--report", str(tmp_path / "none.json"),
              "--output-dir", str(tmp_path / "m")],
    )  # fmt: skip
    assert (missing.exit_code, (tmp_path / "m" / "result").read_text()) == (0, "failed")


def test_adoption_doc_shows_the_rendered_caller() -> None:
    """docs/adoption.md's caller is the golden one, but for the shortened commit SHA."""
    doc = (ROOT / "docs" / "adoption.md").read_text()
    section = doc[doc.index("## 4. GitHub Actions") :]
    shown = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    golden = (GOLDEN / "github-workflow.yaml").read_text()
    assert shown == golden.replace("0123456789abcdef0123456789abcdef01234567", "0123...4567")


def test_every_target_is_a_render_command() -> None:
    from pipeline.commands.render import render_group

    assert {command_of(t)[0] for t in TARGETS} <= set(render_group.commands)
    assert command_of("argocd-rbac") == ["rbac", "--backend", "argocd-api"]


def test_replaced_notices_tell_each_earlier_pr() -> None:
    """One notice per PR whose canary the deploys replaced, naming the PR that replaced it; a
    replaced_pr that is not a PR number is dropped (the Application is writable by others)."""
    report = _deploy_report("succeeded")
    auth = report["services"][0]
    auth.update(replaced_pr="42", plan={"run": {"pr": "43"}})
    users = {**auth, "service": "users", "replaced_pr": "42"}
    evil = {**auth, "service": "orders", "replaced_pr": "42 <b>x</b>"}
    report["services"] += [users, evil]
    (notice,) = replaced_notices([report], head_sha="0123456789abcdef")
    assert notice["pr"] == 42
    body = notice["body"]
    assert body.splitlines()[0] == REPLACED_MARKER
    assert "### Canary replaced by PR #43" in body
    assert "| auth | `sha256:aaaaaaaaaaaa` | succeeded |" in body
    assert "| users |" in body and "orders" not in body
    comment = render_comment([report])
    assert "- auth: this canary replaced PR #42's (that PR is told in a comment)." in comment
    assert "<b>" not in comment

    auth.update(plan={"run": {"pr": ""}})  # a push to the base branch
    (pushed,) = replaced_notices([{**report, "services": [auth]}], head_sha="0123456789abcdef")
    assert "### Canary replaced by a push (`0123456789ab`)" in pushed["body"]
    assert replaced_notices([_deploy_report("succeeded")]) == []


def test_replaced_notices_command_writes_json(tmp_path: Path) -> None:
    report = _deploy_report("succeeded")
    report["services"][0].update(replaced_pr="7", plan={"run": {"pr": "8"}})
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(report))
    out = tmp_path / "notices.json"
    result = CliRunner().invoke(
        cli, ["render", "replaced-notices", str(path), "--output-file", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [n["pr"] for n in json.loads(out.read_text())] == [7]


def test_argocd_rbac_covers_each_application_and_nothing_else() -> None:
    """`render rbac --backend argocd-api`: the account with apiKey only, and per Application of the
    project exactly the four grants the API backend uses, and reading the project's
    ApplicationSets; a PR-dependent name becomes a glob."""
    docs = list(yaml.safe_load_all(render("argocd-rbac", build_context(config()))))
    account, policy = docs
    assert (account["metadata"]["name"], account["data"]) == (
        "argocd-cm", {"accounts.pipeline-ci": "apiKey"},
    )  # fmt: skip
    lines = policy["data"]["policy.pipeline-ci.csv"].splitlines()
    assert lines[-1] == "g, pipeline-ci, role:pipeline-ci"
    assert lines[-2] == "p, role:pipeline-ci, applicationsets, get, default/*, allow"
    lines = lines[:-1]
    assert {line.split(", ")[4] for line in lines[:-1]} == {
        "default/dev-api-auth", "default/dev-api-users",
    }  # fmt: skip
    assert {tuple(line.split(", ")[2:4]) for line in lines[:-1]} == {
        ("applications", "get"), ("applications", "update"), ("applications", "sync"),
        ("logs", "get"),
    }  # fmt: skip
    per_pr = copy.deepcopy(config())
    per_pr["app"] = "pr-{pr}-{service}"
    per_pr["ci"].update(argocd_project="shop", argocd_account="ci")
    lines = build_context(per_pr).argocd_policy
    assert "p, role:ci, applications, sync, shop/pr-*-auth, allow" in lines
    assert lines[-1] == "g, ci, role:ci"


def test_render_rbac_backend_option(tmp_path: Path) -> None:
    out = tmp_path / "argocd-rbac.yaml"
    args = ["render", "rbac", "--backend", "argocd-api", "--config", str(EXAMPLE)]
    result = CliRunner().invoke(cli, [*args, "--output-file", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (ROOT / SHIPPED["argocd-rbac"]).read_text()
    out.write_text(out.read_text().replace("sync", "delete"))
    assert run([*args, "--check", str(out)]) == ExitCode.DRIFT
    bad = CliRunner().invoke(cli, ["render", "rbac", "--backend", "helm", "--config", str(EXAMPLE)])
    assert bad.exit_code == 2 and "helm" in bad.output
