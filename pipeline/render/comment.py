"""The PR comment, rendered from deploy-canary and cleanup-canary JSON reports.

Its first line is a hidden marker: the workflow finds the comment that starts with it and
updates it in place, so a PR has one canary comment however often it is deployed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.render.engine import environment

MARKER = "<!-- pipeline:canary -->"


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
            rows.append({**s, "ready_pods": len(pods), "pod_count": len(s.get("pods") or [])})
    key = lambda r: str(r.get("service", ""))  # noqa: E731
    return sorted(deploys, key=key), sorted(cleanups, key=key)


def render_comment(reports: list[dict[str, Any]], head_sha: str = "") -> str:
    deploys, cleanups = comment_rows(reports)
    template = environment().get_template("github/pr-comment.md.j2")
    return template.render(marker=MARKER, deploys=deploys, cleanups=cleanups, head_sha=head_sha)


def report_outputs(report: dict[str, Any]) -> dict[str, str]:
    """The values an Argo Workflows step exposes as output parameters."""
    services = report.get("services") or [{}]
    return {
        "digest": str(services[0].get("digest", "")),
        "result": str(report.get("result", "")),
        "exit-code": str(report.get("exit_code", "")),
    }
