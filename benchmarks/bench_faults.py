"""Issue 13's fault figures at full scale: the suite's fault tests run with the issue's counts,
and the sandbox's load tests timed; prints one JSON document.

- races: ``--racers`` deploys of one service at once, each building its own revision on one
  shared Docker Engine (tests/integration/test_faults_races.py, run ``--trials`` times): one
  winner, every loser superseded or tag-moved, the winner's digest running;
- after_failure: ``--rounds`` times a crash-looping canary then at once a good one (same file);
- load: 1,000 concurrent watches, 1,000 watches open when the server stops, and a 5,000-request
  burst (tests/sandbox/test_apiserver_load.py), with their wall times.

Every part is the test itself at another count (FAULTS_RACERS, FAULTS_ROUNDS), so what is
measured is what the suite asserts. The pytest session starts its own registry, Docker Engine
and sandbox. ``--write-docs`` rewrites the block between ``<!-- bench_faults:start -->`` and
``<!-- bench_faults:end -->`` in docs/reliability.md.

Usage: .venv/bin/python benchmarks/bench_faults.py [--racers 50] [--rounds 20] [--trials 1]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from docsblock import replace_block

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "reliability.md"
START, END = "<!-- bench_faults:start -->", "<!-- bench_faults:end -->"
RACES = "tests/integration/test_faults_races.py"
LOAD = "tests/sandbox/test_apiserver_load.py"
DURATION = re.compile(r"^\s*([0-9.]+)s call\s+\S+::(\S+)", re.M)
FAILED = re.compile(r"^(?:FAILED|ERROR) \S+::(\w+)", re.M)


def pytest(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """(exit code, output, seconds) of one pytest session."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
         "-s", *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def durations(output: str) -> dict[str, float]:
    return {name: float(seconds) for seconds, name in DURATION.findall(output)}


def faults(options: argparse.Namespace, work: Path) -> dict[str, Any]:
    trials: list[dict[str, Any]] = []
    after_failure: dict[str, Any] = {}
    for trial in range(options.trials):
        figures = work / f"figures-{trial}.json"
        env = {"FAULTS_RACERS": str(options.racers), "FAULTS_FIGURES": str(figures)}
        if trial == 0 and options.rounds:
            env["FAULTS_ROUNDS"] = str(options.rounds)
        code, output, _ = pytest([RACES], env)
        failed = " ".join(FAILED.findall(output))
        found = json.loads(figures.read_text()) if figures.is_file() else {}
        race = found.get("races", {})
        race["passed"] = bool(race) and "racing" not in failed
        trials.append(race)
        if "after_failure" in found:
            after_failure = found["after_failure"]
            after_failure["passed"] = "failed_canary" not in failed
        if code != 0:
            print(output[-4000:], file=sys.stderr)
    return {"races": trials, "after_failure": after_failure}


def load() -> dict[str, Any]:
    code, output, _ = pytest([LOAD], {})
    burst = re.search(r"burst: (\d+) requests in ([0-9.]+)s \((\d+)/s\)", output)
    return {
        "passed": code == 0,
        "seconds": durations(output),
        "burst_per_second": int(burst.group(3)) if burst else None,
    }


def block(results: dict[str, Any]) -> str:
    lines = [START, "", "| Case | Held | Figures (2 cores) |", "|---|---|---|"]
    for race in results["races"]:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(race.get("reasons", {}).items()))
        lines.append(
            f"| {race.get('racers')} racing deploys of one service, each with its own build "
            f"on one shared engine | {'yes' if race.get('passed') else 'NO'}: "
            f"{race.get('winners')} winner | {reasons}; {race.get('seconds')} s from the first "
            "start to the last exit |"
        )
    after = results["after_failure"]
    if after:
        seconds = sorted(after.get("seconds") or [0.0])
        lines.append(
            f"| a deploy right after a failed (crash-looping) canary, {after.get('rounds')} "
            f"rounds | {after.get('succeeded')} of {after.get('rounds')} succeeded | each "
            f"good deploy {seconds[0]}-{seconds[-1]} s (median {seconds[len(seconds) // 2]}) |"
        )
    load = results["load"]
    for name, seconds in sorted(load["seconds"].items()):
        extra = ""
        if "burst" in name and load.get("burst_per_second"):
            extra = f", {load['burst_per_second']} requests/s"
        lines.append(
            f"| sandbox load: `{name}` | {'yes' if load['passed'] else 'NO'} | "
            f"{seconds:.1f} s{extra} |"
        )
    lines += ["", "Measured by `benchmarks/bench_faults.py`.", "", END]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--racers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--trials", type=int, default=1, help="race trials (one session each)")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--write-docs", action="store_true", help="update docs/reliability.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    results = faults(options, work)
    results["load"] = {"passed": None, "seconds": {}} if options.skip_load else load()
    print(json.dumps(results, indent=2))
    if options.write_docs:
        replace_block(START, END, block(results), DOCS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
