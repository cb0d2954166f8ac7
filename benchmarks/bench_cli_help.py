"""Time `pipeline --help` and `pipeline deploy-canary --help` beside `python -c 'import click'`.

The goal (issue 8): both within 2x of importing click alone, so that a CI step or a shell
completion pays for click and not for the client libraries. Each command is timed with hyperfine
(Debian package `hyperfine`) when it is installed, else by repeated subprocess runs; the median
is reported. ``--baseline REF`` also times the CLI of a git revision (``git archive REF``, run
with the same interpreter and ``PYTHONPATH``) to show what changed. Every run starts in an empty
directory, so that ``python -c`` does not import the package from the current directory.

Usage: .venv/bin/python benchmarks/bench_cli_help.py [--runs 40] [--passes 5] [--baseline REF]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"
START, END = "<!-- bench_cli_help:start -->", "<!-- bench_cli_help:end -->"
GOAL = 2.0
# exactly what the `pipeline` console script runs
CLI = "import sys; from pipeline.cli import main; sys.argv[0] = 'pipeline'; sys.exit(main())"


def cases(python: str) -> list[tuple[str, list[str]]]:
    return [
        ("python -c 'import click'", [python, "-c", "import click"]),
        ("pipeline --help", [python, "-c", CLI, "--help"]),
        ("pipeline deploy-canary --help", [python, "-c", CLI, "deploy-canary", "--help"]),
    ]


def time_hyperfine(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> list[float]:
    export = cwd / "hyperfine.json"
    subprocess.run(
        ["hyperfine", "-N", "--style", "none", "--warmup", "3", "--runs", str(runs),
         "--export-json", str(export), shlex.join(argv)],
        env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    times: list[float] = json.loads(export.read_text())["results"][0]["times"]
    export.unlink()
    return times


def time_subprocess(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> list[float]:
    times = []
    for index in range(runs + 3):
        started = time.perf_counter()
        subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        if index >= 3:  # warm-up runs, as hyperfine's --warmup
            times.append(time.perf_counter() - started)
    return times


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Seconds per run, started in an empty directory."""
    timer = time_hyperfine if shutil.which("hyperfine") else time_subprocess
    with tempfile.TemporaryDirectory(prefix="bench-cli-cwd-") as cwd:
        return timer(argv, runs, env, Path(cwd))


def export_revision(ref: str, into: Path) -> None:
    """The ``pipeline`` package as it was at ``ref`` (no checkout, no install)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "pipeline"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def run(runs: int, baseline: str | None, passes: int = 5) -> dict[str, Any]:
    """Each command is timed in ``passes`` interleaved passes, so that a burst of load on a
    shared machine falls on every row instead of one."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as work:
        jobs = [(name, "this tree", argv, env) for name, argv in cases(sys.executable)]
        if baseline:
            export_revision(baseline, Path(work))
            with_ref = {**env, "PYTHONPATH": work}
            jobs += [(name, baseline, argv, with_ref) for name, argv in cases(sys.executable)[1:]]
        times: dict[int, list[float]] = {index: [] for index in range(len(jobs))}
        for _ in range(passes):
            for index, (_, _, argv, job_env) in enumerate(jobs):
                times[index] += measure(argv, max(1, runs // passes), job_env)
    rows = [
        {
            "command": name,
            "revision": revision,
            "median_ms": round(statistics.median(times[index]) * 1000, 1),
            "min_ms": round(min(times[index]) * 1000, 1),
        }
        for index, (name, revision, _, _) in enumerate(jobs)
    ]
    click_ms = rows[0]["median_ms"]
    for row in rows:
        row["x_import_click"] = round(row["median_ms"] / click_ms, 2)
    return {
        "date": date.today().isoformat(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "timer": "hyperfine" if shutil.which("hyperfine") else "subprocess",
        "runs": runs // passes * passes,
        "passes": passes,
        "rows": rows,
    }


def section(result: dict[str, Any]) -> str:
    lines = [
        f"Measured {result['date']} on {result['cpus']} CPUs (Python {result['python']}) by "
        f"`benchmarks/bench_cli_help.py --baseline core --write-docs`: median of "
        f"{result['runs']} runs in {result['passes']} interleaved passes ({result['timer']}, 3 "
        "warm-up runs per pass), the same interpreter and virtualenv for each row; `core` is the "
        "branch before this change.",
        "",
        "| Command | Revision | Median ms | Min ms | x `import click` | Goal (< 2x) |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        goal = "-" if row["command"].startswith("python") else (
            "met" if row["x_import_click"] < GOAL else "not met"
        )  # fmt: skip
        lines.append(
            f"| `{row['command']}` | {row['revision']} | {row['median_ms']} | {row['min_ms']} "
            f"| {row['x_import_click']} | {goal} |"
        )
    return "\n".join(lines) + "\n"


def write_docs(result: dict[str, Any]) -> None:
    doc = DOCS.read_text()
    before, rest = doc.split(START, 1)
    after = rest.split(END, 1)[1]
    DOCS.write_text(f"{before}{START}\n{section(result)}{END}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--baseline", metavar="REF", help="also time the CLI at this git ref")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    result = run(args.runs, args.baseline, args.passes)
    print(json.dumps(result, indent=2))
    if args.write_docs:
        write_docs(result)


if __name__ == "__main__":
    main()
