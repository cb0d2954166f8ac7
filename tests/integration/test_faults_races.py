"""Issue 13's fault-suite figures that need many deploys: N racing deploys of one service, each
with its own build, and deploys right after a failed canary, many in a row.

The counts come from the environment so that ``benchmarks/bench_faults.py`` runs these same
tests at the issue's scale (50 racers, 20 rounds) and records the figures in
docs/reliability.md; the suite runs a small race (``FAULTS_RACERS``, default 4) and leaves the
rounds after a failed canary to ``test_deploy_failures.py`` (3 in a row) unless
``FAULTS_ROUNDS`` is set. ``FAULTS_FIGURES`` names a JSON file the figures are merged into.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.seed import SeededSample
from tests.fixtures.sandbox import SandboxHandle
from tests.fixtures.waiting import wait_for
from tests.integration.test_deploy_canary import (
    deploy,
    hold_operation,
    release_operation,
    running_digests,
    start_deploy,
)
from tests.integration.test_deploy_races import revision

pytestmark = pytest.mark.integration

RACERS = int(os.environ.get("FAULTS_RACERS", "4"))
ROUNDS = int(os.environ.get("FAULTS_ROUNDS", "0"))
SAFETY = 900  # seconds: a wait that should never be reached, not a timing goal


def record(name: str, figures: dict[str, Any]) -> None:
    """Merge ``figures`` under ``name`` into $FAULTS_FIGURES (benchmarks/bench_faults.py)."""
    target = os.environ.get("FAULTS_FIGURES")
    if not target:
        return
    path = Path(target)
    known = json.loads(path.read_text()) if path.is_file() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2) + "\n")


class Racer:
    """One `deploy-canary --output json` process, its output read as it comes."""

    def __init__(self, proc: subprocess.Popen[str], sync_line: str) -> None:
        self.proc, self.sync_line = proc, sync_line
        self.stderr: list[str] = []
        self.stdout = ""
        self.at_sync = threading.Event()  # reached the sync step, or ended
        self._threads = [
            threading.Thread(target=self._errors, daemon=True),
            threading.Thread(target=self._output, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _errors(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line == self.sync_line:
                self.at_sync.set()
        self.at_sync.set()

    def _output(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def finish(self) -> dict[str, Any]:
        self.proc.wait(timeout=SAFETY)
        for thread in self._threads:
            thread.join(timeout=SAFETY)
        shown = f"exit {self.proc.returncode}\n{''.join(self.stderr)}"
        try:
            (service,) = json.loads(self.stdout)["services"]
        except (ValueError, KeyError) as e:
            pytest.fail(f"no JSON report ({e}):\n{self.stdout}\n{shown}")
        return {**service, "exit": self.proc.returncode, "shown": shown}


def test_racing_deploys_with_builds_have_one_winner_running(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample], tmp_path: Path
) -> None:
    """RACERS runs of one service, each building its own source revision on the one shared
    Docker Engine and pushing the one canary tag, at once. Argo CD's operation is held until
    every run has pinned or ended, so that all of them overlap: exactly one succeeds, every
    other ends superseded or tag-moved (exit 12; never a registry or build error), and the
    canary's pods run the winner's digest."""
    seeded = make_sample()
    repo = seeded.repo
    contexts = [revision(seeded, tmp_path, f"r{i}") for i in range(RACERS)]
    hold_operation(sandbox, seeded)
    started = time.monotonic()
    racers: list[Racer] = []
    try:
        for i, context in enumerate(contexts):
            proc = start_deploy(
                sandbox, seeded, "--timeout", "600", run_id=f"r{i}", context=context
            )
            racers.append(Racer(proc, f"[{repo.namespace}] sync ...\n"))
        wait_for(
            "every racer to pin or end",
            lambda: all(r.at_sync.is_set() for r in racers),
            timeout=SAFETY,
            interval=0.2,
        )
    finally:
        release_operation(sandbox, seeded)
    results = [r.finish() for r in racers]
    took = time.monotonic() - started
    reasons = Counter(r["reason"] for r in results)
    winners = [r for r in results if r["result"] == "succeeded"]
    record(
        "races",
        {"racers": RACERS, "winners": len(winners), "reasons": dict(reasons),
         "seconds": round(took, 1)},
    )  # fmt: skip
    expected = ("superseded", "tag-moved", "deployed")
    shown = "\n\n".join(r["shown"] for r in results if r["reason"] not in expected)
    assert len(winners) == 1, f"{reasons}\n{shown}"
    (winner,) = winners
    assert winner["exit"] == ExitCode.OK
    losers = [r for r in results if r is not winner]
    assert all(
        (r["exit"], r["reason"]) in ((ExitCode.SUPERSEDED, "superseded"), (12, "tag-moved"))
        for r in losers
    ), f"{reasons}\n{shown}"
    assert running_digests(sandbox, repo.namespace, repo.selectors["canary"]) == {winner["digest"]}


@pytest.mark.skipif(
    ROUNDS < 1,
    reason="benchmark scale (benchmarks/bench_faults.py sets FAULTS_ROUNDS); the suite's "
    "3 in a row: test_deploy_failures.py::test_a_deploy_after_a_failed_canary_succeeds",
)
def test_deploys_right_after_a_failed_canary_succeed_many_times_in_a_row(
    sandbox: SandboxHandle, make_sample: Callable[..., SeededSample]
) -> None:
    """ROUNDS times: a crash-looping canary (exit 13), then at once a good one (exit 0),
    judged on its own ReplicaSet only, its ready pods running its digest."""
    seeded = make_sample()
    repo = seeded.repo
    seconds: list[float] = []
    for attempt in range(ROUNDS):
        code, report, stderr = deploy(sandbox, seeded, "--build-arg", "CRASH=1")
        assert (code, report["services"][0]["reason"]) == (ExitCode.CRASH_LOOP, "crash-loop")
        started = time.monotonic()
        code, report, stderr = deploy(sandbox, seeded, "--build-arg", f"ROUND={attempt}")
        seconds.append(round(time.monotonic() - started, 1))
        (service,) = report["services"]
        assert code == ExitCode.OK, f"round {attempt + 1}: {stderr}"
        ready = running_digests(sandbox, repo.namespace, repo.selectors["canary"])
        assert ready == {service["digest"]}, f"round {attempt + 1}"
        record("after_failure", {"rounds": ROUNDS, "succeeded": attempt + 1, "seconds": seconds})
