"""The reporter interface and the factory the CLI uses.

Several services report concurrently, so ``emit`` is serialised with a lock here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, TextIO

from pipeline.core.events import Event, ServiceResult


class Reporter:
    """Base reporter: thread-safe ``emit`` plus one ``finish`` call at the end."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.handle(event)

    def handle(self, event: Event) -> None:
        """Render one event (called under the lock)."""

    def finish(
        self, results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None
    ) -> None:
        """Render the final results (``requests``: counts by method, for the JSON report)."""


RequestCounts = dict[str, dict[str, int]]


def document(
    results: list[ServiceResult],
    exit_code: int,
    dry_run: bool = False,
    requests: RequestCounts | None = None,
) -> dict[str, Any]:
    """The ``--output json`` document (docs/json-schema.md, schema_version 1)."""
    failed = [r for r in results if r.result == "failed"]
    return {
        "schema_version": 1,
        "result": "planned" if dry_run and not failed else ("failed" if failed else "succeeded"),
        "exit_code": exit_code,
        "services": [r.as_dict() for r in results],
        "requests": requests or {"registry": {}, "kubernetes": {}},
    }


def make_reporter(
    output: str, stdout: TextIO, stderr: TextIO, env: dict[str, str] | None = None
) -> Reporter:
    from pipeline.report.github import GitHubReporter
    from pipeline.report.json_output import JsonReporter
    from pipeline.report.text import TextReporter

    env = dict(os.environ if env is None else env)
    if output == "json":
        return JsonReporter(stdout, TextReporter(stderr))
    if output == "github":
        return GitHubReporter(
            TextReporter(stdout, stderr),
            output_file=Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            summary_file=Path(env["GITHUB_STEP_SUMMARY"])
            if env.get("GITHUB_STEP_SUMMARY")
            else None,
            stream=stdout,
        )
    return TextReporter(stdout, stderr)
