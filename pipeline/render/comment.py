"""The PR comment, rendered from deploy-canary and cleanup-canary JSON reports.

Its first line is a hidden marker: the workflow finds the comment that starts with it and
updates it in place, so a PR has one canary comment however often it is deployed.

A deploy that replaced another PR's canary reports that PR (``replaced_pr``); the notices
tell each such PR, in a comment of its own (a new comment, so its author is notified).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.render.engine import environment

MARKER = "<!-- pipeline:canary -->"
REPLACED_MARKER = "<!-- pipeline:canary-replaced -->"
PR_NUMBER = re.compile(r"[1-9][0-9]{0,9}\Z")


def load_reports(paths: list[Path]) -> list[dict[str, Any]]:
    reports = []
    for path in sorted(paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read report {path}: {e}") from None
        if not isinstance(doc, dict) or "services" not in doc:
            raise UsageError(f"{path} is not a deploy-canary or cleanup-canary JSON report")
        reports.append(doc)
    return reports


def comment_rows(
    reports: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(deploy rows, cleanup rows), one per service, in service order."""
    deploys: list[dict[str, Any]] = []
    cleanups: list[dict[str, Any]] = []
    for doc in reports:
        rows = cleanups if doc.get("command") == "cleanup-canary" else deploys
        for s in doc.get("services") or []:
            pods = [p for p in s.get("pods") or [] if p.get("ready")]
            replaced = str(s.get("replaced_pr") or "")
            rows.append({
                **s, "ready_pods": len(pods), "pod_count": len(s.get("pods") or []),
                "replaced_pr": replaced if PR_NUMBER.match(replaced) else "",
            })  # fmt: skip
    key = lambda r: str(r.get("service", ""))  # noqa: E731
    return sorted(deploys, key=key), sorted(cleanups, key=key)


def render_comment(reports: list[dict[str, Any]], head_sha: str = "") -> str:
    deploys, cleanups = comment_rows(reports)
    template = environment().get_template("github/pr-comment.md.j2")
    return template.render(marker=MARKER, deploys=deploys, cleanups=cleanups, head_sha=head_sha)


def replaced_notices(reports: list[dict[str, Any]], head_sha: str = "") -> list[dict[str, Any]]:
    """One notice per PR whose canary these deploys replaced: ``{"pr": N, "body": Markdown}``,
    by PR number. A value that is not a PR number (the Application is writable by others) is
    skipped, never used."""
    deploys, _ = comment_rows(reports)
    by_pr: dict[int, list[dict[str, Any]]] = {}
    for row in deploys:
        if row["replaced_pr"]:  # a PR number (comment_rows drops anything else)
            by_pr.setdefault(int(row["replaced_pr"]), []).append(row)
    template = environment().get_template("github/pr-replaced.md.j2")
    notices = []
    for pr, rows in sorted(by_pr.items()):
        by = {str((r.get("plan") or {}).get("run", {}).get("pr") or "") for r in rows}
        body = template.render(
            marker=REPLACED_MARKER, rows=rows, by_pr=sorted(by)[0], head_sha=head_sha
        )
        notices.append({"pr": pr, "body": body})
    return notices


def report_outputs(report: dict[str, Any]) -> dict[str, str]:
    """The values an Argo Workflows step exposes as output parameters."""
    services = report.get("services") or [{}]
    return {
        "digest": str(services[0].get("digest", "")),
        "result": str(report.get("result", "")),
        "exit-code": str(report.get("exit_code", "")),
    }
