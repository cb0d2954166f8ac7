"""The `cleanup-canary` report: one JSON document, GitHub outputs and a step summary.

Same conventions as deploy-canary's reporters (pipeline/report/github.py): ``$GITHUB_OUTPUT``
entries in the heredoc form, Markdown appended to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.cleanup.run import CleanupResult
from pipeline.report.github import output_lines


def overall(results: list[CleanupResult]) -> str:
    kinds = {r.result for r in results}
    for kind in ("failed", "cleaned", "nothing-to-clean"):
        if kind in kinds:
            return kind
    return "skipped" if kinds else "nothing-to-clean"


def document(results: list[CleanupResult], exit_code: int, pr: str) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "command": "cleanup-canary",
        "result": overall(results),
        "exit_code": exit_code,
        "pr": pr,
        "services": [r.as_dict() for r in results],
    }


def summary_markdown(results: list[CleanupResult], pr: str) -> str:
    title = f"### Canary cleanup (PR #{pr})" if pr else "### Canary cleanup"
    rows = [
        title,
        "",
        "| Service | Result | Application | Digest removed | Detail |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        digest = f"`{r.digest[:19]}`" if r.digest else "-"
        detail = (r.message or ", ".join(sorted(set(r.images.values())))).replace("|", "\\|")
        rows.append(f"| {r.service} | {r.result} | {r.application} | {digest} | {detail} |")
    return "\n".join(rows) + "\n\n"


def write_github(
    results: list[CleanupResult],
    exit_code: int,
    pr: str,
    output_file: Path | None,
    summary_file: Path | None,
) -> None:
    doc = document(results, exit_code, pr)
    if output_file is not None:
        values = {
            "result": doc["result"],
            "exit-code": str(exit_code),
            "report": json.dumps(doc, separators=(",", ":")),
        }
        with output_file.open("a", encoding="utf-8") as f:
            for name, value in values.items():
                f.write(output_lines(name, value))
    if summary_file is not None:
        with summary_file.open("a", encoding="utf-8") as f:
            f.write(summary_markdown(results, pr))
