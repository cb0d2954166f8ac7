"""Reporters: the JSON document, GitHub output file format and step summary, text progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

from pipeline.core.events import ServiceFinished, ServiceResult, StepFinished
from pipeline.core.rollout import PodObservation
from pipeline.deploy.orchestrate import worst_exit_code
from pipeline.report import make_reporter
from pipeline.report.github import output_lines, summary_markdown

DIGEST = "sha256:" + "f" * 64


def ok() -> ServiceResult:
    return ServiceResult(
        service="auth",
        image="127.0.0.1:5000/eco2:auth-api-dev-canary",
        digest=DIGEST,
        application="argocd/dev-api-auth",
        namespace="auth",
        selector="app=auth-api,version=v2",
        pods=[PodObservation("auth-1", f"127.0.0.1:5000/eco2@{DIGEST}", True, 0, "", "", True)],
        result="succeeded",
        reason="deployed",
        exit_code=0,
        timings={"build": 1.25, "verify": 0.5},
    )


def failed() -> ServiceResult:
    return ServiceResult(
        service="users", result="failed", reason="crash-loop", exit_code=10,
        message="pod users-1 is CrashLoopBackOff\nexit 1",
    )  # fmt: skip


def test_json_document_schema() -> None:
    out = io.StringIO()
    reporter = make_reporter("json", out, io.StringIO(), env={})
    reporter.finish([ok(), failed()], 10)
    doc = json.loads(out.getvalue())
    assert (doc["schema_version"], doc["result"], doc["exit_code"]) == (1, "failed", 10)
    first = doc["services"][0]
    assert set(first) >= {
        "service", "image", "digest", "application", "namespace", "pods", "result", "reason",
        "exit_code", "timings",
    }  # fmt: skip
    assert first["pods"] == [
        {"name": "auth-1", "imageID": f"127.0.0.1:5000/eco2@{DIGEST}", "ready": True,
         "restarts": 0, "waiting": ""}
    ]  # fmt: skip
    assert first["timings"] == {"build": 1.25, "verify": 0.5}


def test_github_output_is_multiline_safe(tmp_path: Path) -> None:
    assert output_lines("m", "a\nb", "EOF_X") == "m<<EOF_X\na\nb\nEOF_X\n"
    output, summary = tmp_path / "out", tmp_path / "summary"
    stdout = io.StringIO()
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    make_reporter("github", stdout, io.StringIO(), env=env).finish([ok(), failed()], 10)
    values = parse_github_output(output.read_text())
    assert values["digest"] == DIGEST
    assert values["image"] == "127.0.0.1:5000/eco2:auth-api-dev-canary"
    assert values["result"] == "failed"
    assert values["result-users"] == "failed"
    assert json.loads(values["report"])["exit_code"] == 10
    assert "| auth | succeeded | deployed |" in summary.read_text()
    assert (
        "::error title=deploy-canary users (crash-loop)::pod users-1 is CrashLoopBackOff%0Aexit 1"
        in (stdout.getvalue())
    )


def parse_github_output(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does (name<<DELIM ... DELIM)."""
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        name, delimiter = line.split("<<", 1)
        body = []
        for inner in lines:
            if inner == delimiter:
                break
            body.append(inner)
        values[name] = "\n".join(body)
    return values


def test_summary_escapes_table_cells() -> None:
    result = failed()
    result.message = "a | b"
    assert "a \\| b" in summary_markdown([result], 10)


def test_text_progress_has_durations_and_failures_go_to_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    reporter = make_reporter("text", out, err, env={})
    reporter.emit(StepFinished("auth", "verify", 1.234, "1 ready replica(s)"))
    reporter.emit(ServiceFinished(failed()))
    assert out.getvalue().splitlines() == ["[auth] verify done in 1.23s: 1 ready replica(s)"]
    assert err.getvalue().splitlines()[0] == (
        "[users] FAILED (crash-loop, exit 10): pod users-1 is CrashLoopBackOff"
    )


def test_worst_exit_code() -> None:
    assert worst_exit_code([ok(), failed()]) == 10
    superseded = ServiceResult(service="x", exit_code=12)
    assert worst_exit_code([ok(), superseded]) == 12
    assert worst_exit_code([superseded, failed()]) == 10
    assert worst_exit_code([ok()]) == 0


def test_replaced_pr_is_in_every_report(tmp_path: Path) -> None:
    """The PR whose canary a deploy replaced: JSON field, GitHub outputs and summary, text."""
    replacing = ok()
    replacing.replaced_pr = "42"
    out = io.StringIO()
    make_reporter("json", out, io.StringIO(), env={}).finish([replacing, failed()], 10)
    services = json.loads(out.getvalue())["services"]
    assert [s["replaced_pr"] for s in services] == ["42", ""]

    output, summary = tmp_path / "out", tmp_path / "summary"
    env = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    make_reporter("github", io.StringIO(), io.StringIO(), env=env).finish([replacing], 0)
    values = parse_github_output(output.read_text())
    assert (values["replaced-pr"], values["replaced-pr-auth"]) == ("42", "42")
    assert "**auth**: replaced the canary of PR #42" in summary.read_text()

    text = io.StringIO()
    make_reporter("text", text, io.StringIO(), env={}).emit(ServiceFinished(replacing))
    assert text.getvalue().splitlines()[-1] == "[auth] replaced the canary of PR #42"


def test_the_replaced_pr_is_another_prs_pin_only() -> None:
    """races.replaced_pr: the PR whose sync deployed the digest pinned now, when not ours."""
    from pipeline.core.images import parse_image_ref
    from pipeline.core.plan import ServicePlan
    from pipeline.deploy.races import replaced_pr

    def plan(pr: str) -> ServicePlan:
        return ServicePlan(
            "auth", parse_image_ref("r.io/eco2"), ("t",), "dev-api-auth", "argocd", "auth",
            "app=auth", None, 60.0, "run", "0-run", pr,
        )  # fmt: skip

    info = [{"name": "pipeline-digest", "value": DIGEST}, {"name": "pipeline-pr", "value": "42"}]
    app = {
        "metadata": {"annotations": {"pipeline.dev/canary-digest": DIGEST}},
        "status": {"operationState": {"operation": {"info": info}}},
    }
    assert replaced_pr(app, plan("43")) == "42"
    assert replaced_pr(app, plan("")) == "42"  # a push to the base branch replaced it
    assert replaced_pr(app, plan("42")) == ""  # a new commit of the same PR
    info[0]["value"] = "sha256:" + "0" * 64  # the last sync deployed another digest: unknown
    assert replaced_pr(app, plan("43")) == ""
    assert replaced_pr({"metadata": {}}, plan("43")) == ""  # nothing pinned (cleaned up)
