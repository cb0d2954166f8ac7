"""``--output github``: step outputs, a step-summary table and error annotations.

Formats follow docs.github.com "Workflow commands for GitHub Actions": ``$GITHUB_OUTPUT``
takes ``name=value`` lines, or ``name<<DELIMITER`` ... ``DELIMITER`` for values that may
contain newlines (we always use the delimiter form, with a random delimiter);
``$GITHUB_STEP_SUMMARY`` takes Markdown; ``::error title=...::message`` annotates the run.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, TextIO

from pipeline.core.events import Event, ServiceResult
from pipeline.report.base import Reporter, RequestCounts, document


def output_lines(name: str, value: str, delimiter: str | None = None) -> str:
    """One ``$GITHUB_OUTPUT`` entry in the multi-line-safe heredoc form."""
    delimiter = delimiter or f"ghadelimiter_{secrets.token_hex(8)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def outputs(
    results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None,
    backend: dict[str, str] | None = None,
) -> dict[str, str]:  # fmt: skip
    """digest/image/result/replaced-pr of the first service, per-service keys, and the whole
    report."""
    first = results[0] if results else ServiceResult(service="")
    report = document(results, exit_code, requests=requests, backend=backend)
    values = {
        "digest": first.digest,
        "image": first.image,
        "result": report["result"],
        "exit-code": str(exit_code),
        "replaced-pr": first.replaced_pr,
        "report": json.dumps(report, separators=(",", ":")),
    }
    for r in results:
        values[f"digest-{r.service}"] = r.digest
        values[f"result-{r.service}"] = r.result
        values[f"replaced-pr-{r.service}"] = r.replaced_pr
    return values


def summary_markdown(results: list[ServiceResult], exit_code: int) -> str:
    rows = [
        "### Canary deploy",
        "",
        "| Service | Result | Reason | Image | Digest | Pods | Seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        pods = ", ".join(f"{p.name} ({'ready' if p.ready else 'not ready'})" for p in r.pods)
        digest = f"`{r.digest[:19]}`" if r.digest else ""
        rows.append(
            f"| {r.service} | {r.result} | {r.reason} | `{r.image}` | {digest} | {pods or '-'} "
            f"| {r.elapsed:.1f} |"
        )
    rows += ["", f"Exit code: {exit_code}", ""]
    for r in results:
        if r.replaced_pr:
            rows += [f"**{r.service}**: replaced the canary of PR #{r.replaced_pr}", ""]
    for r in results:
        if r.result == "failed":
            rows += [f"**{r.service}**: {_escape(r.message)}", ""]
            rows += [f"- `{p['reason']}`: {_escape(p['message'])}" for p in r.problems]
    return "\n".join(rows) + "\n"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class GitHubReporter(Reporter):
    def __init__(
        self,
        progress: Reporter,
        *,
        output_file: Path | None,
        summary_file: Path | None,
        stream: TextIO,
    ) -> None:
        super().__init__()
        self.progress, self.output_file, self.summary_file = progress, output_file, summary_file
        self.stream = stream

    def on_connected(self) -> None:
        if self.progress is not None:
            self.progress.connected(self.backend["name"], self.backend["server"])

    def handle(self, event: Event) -> None:
        self.progress.emit(event)

    def fix(self, plan: dict[str, Any]) -> None:
        self.progress.fix(plan)
        if self.summary_file is not None and plan["verified"] and plan["patch"]:
            with self.summary_file.open("a", encoding="utf-8") as f:
                f.write("\n### Fix (verified)\n\n" + "".join(f"- {s}\n" for s in plan["steps"]))
                f.write("\n```diff\n" + plan["patch"] + "```\n")

    def finish(
        self, results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None
    ) -> None:
        self.progress.finish(results, exit_code)
        if self.output_file is not None:
            with self.output_file.open("a", encoding="utf-8") as f:
                for name, value in outputs(results, exit_code, requests, self.backend).items():
                    f.write(output_lines(name, value))
        if self.summary_file is not None:
            with self.summary_file.open("a", encoding="utf-8") as f:
                f.write(summary_markdown(results, exit_code))
        for r in results:
            if r.result == "failed":
                message = r.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
                self.stream.write(
                    f"::error title=deploy-canary {r.service} ({r.reason})::{message}\n"
                )
