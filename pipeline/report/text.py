"""Human-readable progress: one line per step with its duration, pods as they change.

A failed service's lines (message, problems, hint, logs) go to ``errors`` when given (stderr
for ``--output text``), so a failure is on stderr like every other error of the CLI.
"""

from __future__ import annotations

from typing import Any, TextIO

from pipeline.core.events import (
    Event,
    Note,
    PodObserved,
    ServiceFinished,
    ServiceResult,
    StepFinished,
    StepStarted,
)
from pipeline.report.base import Reporter, RequestCounts


class TextReporter(Reporter):
    def __init__(self, stream: TextIO, errors: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream
        self.errors = errors or stream

    def _line(self, service: str, text: str, *, error: bool = False) -> None:
        stream = self.errors if error else self.stream
        stream.write(f"[{service}] {text}\n")
        stream.flush()

    def on_connected(self) -> None:
        via = {"argocd-api": "the Argo CD API", "kubernetes": "the Kubernetes API"}
        name = self.backend["name"]
        self.errors.write(f"pipeline: Argo CD through {via.get(name, name)} at "
                          f"{self.backend['server']} (backend {name})\n")  # fmt: skip
        self.errors.flush()

    def handle(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self._line(event.service, f"{event.step} ...")
        elif isinstance(event, StepFinished):
            mark = "done" if event.ok else "FAILED"
            detail = f": {event.detail}" if event.detail else ""
            self._line(event.service, f"{event.step} {mark} in {event.seconds:.2f}s{detail}")
        elif isinstance(event, Note):
            self._line(event.service, event.message)
        elif isinstance(event, PodObserved):
            pod = event.pod
            state = "ready" if pod.ready else (pod.waiting or "not ready")
            self._line(event.service, f"pod {pod.name}: {state} imageID={pod.image_id or '-'}")
        elif isinstance(event, ServiceFinished):
            self._finished(event.result)

    def _finished(self, r: ServiceResult) -> None:
        if r.result == "failed":
            self._line(
                r.service, f"FAILED ({r.reason}, exit {r.exit_code}): {r.message}", error=True
            )
            for problem in r.problems:
                self._line(
                    r.service, f"  problem {problem['reason']}: {problem['message']}", error=True
                )
                for fix_line in problem["fix"].splitlines():
                    self._line(r.service, f"    {fix_line}", error=True)
            if r.hint and not r.problems:
                self._line(r.service, f"  hint: {r.hint}", error=True)
            for event in r.events:
                self._line(r.service, f"  event: {event}", error=True)
            for log_line in r.logs.splitlines()[-20:]:
                self._line(r.service, f"  log: {log_line}", error=True)
        elif r.result == "planned":
            self._line(r.service, "dry run: nothing was written; plan:")
            import json

            for plan_line in json.dumps(r.plan, indent=2).splitlines():
                self._line(r.service, f"  {plan_line}")
        else:
            total = r.elapsed
            self._line(r.service, f"succeeded in {total:.2f}s: {r.image}@{r.digest} is running")
        if r.replaced_pr:
            self._line(r.service, f"replaced the canary of PR #{r.replaced_pr}")

    def fix(self, plan: dict[str, Any]) -> None:
        out = self.errors
        if not plan["verified"]:
            out.write(f"no verified fix: {plan['unverified_reason']}\n")
            return
        out.write("fix (verified: the fixed repository renders and passes the preflight):\n")
        for step in plan["steps"]:
            out.write(f"  - {step}\n")
        if plan["patch"]:
            out.write("  apply it in the GitOps repository (or write it with --fix-out FILE):\n")
            out.write("  git apply <<'EOF'\n" + plan["patch"] + "EOF\n")
        if plan.get("config_patch"):
            out.write(
                "  and in the repository of pipeline.yaml (--fix-out writes *.config.patch):\n"
            )
            out.write("  git apply <<'EOF'\n" + plan["config_patch"] + "EOF\n")
        for command in plan["commands"]:
            out.write(f"  then: {command}\n")

    def finish(
        self, results: list[ServiceResult], exit_code: int, requests: RequestCounts | None = None
    ) -> None:
        failed = [r.service for r in results if r.result == "failed"]
        if len(results) > 1:
            summary = f"failed: {', '.join(failed)}" if failed else "all succeeded"
            self.stream.write(f"{len(results)} services, {summary} (exit {exit_code})\n")
