"""Benchmark one deploy-canary through each backend, side by side: the Kubernetes API (a
kubeconfig) and the Argo CD API (ARGOCD_SERVER and a project token, no kubeconfig).

Starts its own sandbox, seeds one sample service, then runs R rounds per backend, alternating,
each with a changed source (build and push included). Reports per backend the median wall time,
the pipeline's overhead (wall - build/push - container start, as bench_deploy.py measures it),
and the requests of one deploy by method. The Argo CD API backend follows the Application and
its resource tree through streams; the GETs it sends per deploy are the reads of live objects
whose resourceVersion changed (one per new pod state), not a poll: they do not grow with the
time the rollout takes.

Usage: .venv/bin/python benchmarks/bench_backends.py [--rounds 3] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_deploy import change_source, deploy_args, measured
from deploy_probe import PIPELINE, Recorder, run_deploy, sandbox_up
from docsblock import replace_block

from pipeline.sandbox.kubeclient import KubeClient
from pipeline.sandbox.seed import seed_sample

START, END = "<!-- bench_backends:start -->", "<!-- bench_backends:end -->"


def token(state: Path) -> dict[str, str]:
    out = subprocess.run(
        [*PIPELINE, "sandbox", "token", "--state-dir", str(state), "--project", "default",
         "--role", "ci", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, str] = json.loads(out.stdout)
    return result


def environments(status: dict[str, Any], state: Path, home: Path) -> dict[str, dict[str, str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "ARGOCD_"))}
    base["DOCKER_HOST"] = status["docker_host"]
    api = token(state)
    return {
        "kubernetes": {**base, "KUBECONFIG": status["kubeconfig"]},
        "argocd-api": {**base, "HOME": str(home), "ARGOCD_SERVER": api["server"],
                       "ARGOCD_AUTH_TOKEN": api["token"]},
    }  # fmt: skip


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def benchmark(rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    state = work / "sandbox"
    status = sandbox_up(state)
    try:
        kube = KubeClient(status["server"], user_agent="bench")
        seeded = seed_sample(
            kube, work / "repo", registry=status["registry"],
            docker_host=status["docker_host"], service="bk",
        )  # fmt: skip
        home = work / "ci-home"
        home.mkdir()
        envs = environments(status, state, home)
        recorder = Recorder(kube)
        recorder.start()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in envs}
        for n in range(rounds):
            for name, env in envs.items():
                change_source(seeded, f"{name} {n}")
                run = run_deploy(deploy_args(seeded, f"{name}-{n}"), env)
                (service,) = run.report["services"]
                if run.code != 0:
                    raise SystemExit(f"{name}: exit {run.code}: {service['message']}")
                runs[name].append(
                    {**measured(run, recorder, service), "requests": run.report["requests"]}
                )
        recorder.stop.set()
    finally:
        subprocess.run([*PIPELINE, "sandbox", "down", "--state-dir", str(state)], check=False)
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "rounds": rounds,
        "backends": {
            name: {
                "wall": _median([r["wall"] for r in results]),
                "overhead": _median([r["overhead"] for r in results]),
                "overhead_without_argocd": _median([r["overhead_without_argocd"] for r in results]),
                "requests": results[-1]["requests"],
            }
            for name, results in runs.items()
        },
    }


def markdown(results: dict[str, Any]) -> str:
    rows = []
    for name, r in results["backends"].items():
        calls = r["requests"].get("argocd") or r["requests"].get("kubernetes") or {}
        total = sum(calls.values())
        by_verb = ", ".join(f"{verb} {n}" for verb, n in sorted(calls.items()))
        rows.append(
            f"| {name} | {r['wall']:.2f} s | {r['overhead']:.2f} s | "
            f"{r['overhead_without_argocd']:.2f} s | {total} ({by_verb}) |"
        )
    machine = results["machine"]
    return "\n".join([
        START,
        f"Medians of {results['rounds']} deploys per backend of one service, alternating, on "
        f"{machine['cpus']} CPUs (Python {machine['python']}); requests of the last deploy "
        "to Argo CD or Kubernetes (registry requests are the same for both):",
        "",
        "| backend | wall | overhead | overhead without Argo CD's sync | requests by verb |",
        "|---|---|---|---|---|",
        *rows,
        END,
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    options = parser.parse_args()
    results = benchmark(options.rounds)
    print(json.dumps(results, indent=2))
    if options.write_docs:
        replace_block(START, END, markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
