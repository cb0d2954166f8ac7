"""``--output json``: progress as text on stderr, one JSON document on stdout at the end."""

from __future__ import annotations

import json
from typing import Any, TextIO

from pipeline.core.events import Event, ServiceResult
from pipeline.report.base import Reporter, RequestCounts, document


class JsonReporter(Reporter):
    def __init__(self, stream: TextIO, progress: Reporter | None = None) -> None:
        super().__init__()
        self.stream, self.progress = stream, progress
        self.dry_run = False
        self.fix_plan: dict[str, Any] | None = None

    def fix(self, plan: dict[str, Any]) -> None:
        self.fix_plan = plan
        if self.progress is not None:
            self.progress.fix(plan)

    def on_connected(self) -> None:
        if self.progress is not None:
            self.progress.connected(self.backend["name"], self.backend["server"])

    def handle(self, event: Event) -> None:
        if self.progress is not None:
            self.progress.emit(event)

    def finish(
        self, results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None
    ) -> None:
        dry_run = bool(results) and all(r.reason == "dry-run" for r in results)
        report = document(results, exit_code, dry_run, requests, self.fix_plan, self.backend)
        json.dump(report, self.stream, indent=2, sort_keys=False)
        self.stream.write("\n")
        self.stream.flush()
