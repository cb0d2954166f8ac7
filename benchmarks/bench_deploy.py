"""Benchmark `pipeline deploy-canary` end to end; prints one JSON document.

Starts its own sandbox with the CLI (own state dir, registry and Docker Engine), seeds sample
services, then measures (docs/performance.md explains every number):

- single: R deploys of one service, each with a changed source (build + push included):
  pipeline overhead = wall - build/push - container start (template updated -> last pod ready),
  push-done -> sync-requested, last-pod-ready -> exit, requests by method;
- replicas: the same deploy on a 3-replica canary (a longer rollout): request counts must not grow;
- scale: 1 vs 9 services in one invocation (--no-build, digests pushed beforehand);
- failures: a crashing image and an image deleted after preflight: the kubelet's report of the
  terminal state (CrashLoopBackOff / ErrImagePull reaching a watch) -> the pipeline's exit.

Usage: .venv/bin/python benchmarks/bench_deploy.py [--rounds 3] [--services 9] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deploy_probe import PIPELINE, Recorder, Run, analyse, run_deploy, sandbox_up
from deploy_report import write_docs

from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.sandbox.sample import commit_all
from pipeline.sandbox.seed import SeededSample, pod_ready, seed_sample, wait_for_pods

APPS = "argoproj.io/v1alpha1"


def deploy_args(seeded: SeededSample, run_id: str, *extra: str) -> list[str]:
    repo = seeded.repo
    return [
        "--service", repo.namespace, "--image", repo.image_repository,
        "--tag", "{service}-api-dev-canary", "--context", str(repo.context_dir),
        "--timeout", "120", "--run-id", run_id, *extra,
    ]  # fmt: skip


def change_source(seeded: SeededSample, label: str) -> None:
    entrypoint = seeded.repo.context_dir / "entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + f"# {label}\n")


def measured(run: Run, recorder: Recorder, service: dict[str, Any]) -> dict[str, Any]:
    moments = analyse(run, recorder, service, f"dev-api-{service['service']}")
    build = service["timings"].get("build", 0.0) + service["timings"].get("push", 0.0)
    start = (moments["last_pod_ready"] or 0) - (moments["template_updated"] or 0)
    argo = (moments["template_updated"] or 0) - (moments["sync_requested"] or 0)
    return {
        "exit_code": run.code,
        "reason": service["reason"],
        "wall": round(run.wall, 3),
        "build_and_push": build,
        "container_start": round(start, 3),
        "argocd_sync_to_template": round(argo, 3),
        "overhead": round(run.wall - build - start, 3),
        "overhead_without_argocd": round(run.wall - build - start - argo, 3),
        "push_done_to_sync_requested": _diff(moments["sync_requested"], moments["push_done"]),
        "last_pod_ready_to_exit": _diff(moments["exit"], moments["last_pod_ready"]),
        "kubelet_failure_to_exit": _diff(moments["exit"], moments["failure_reported_by_kubelet"]),
        "timings": service["timings"],
        "moments": moments,
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def with_replicas(kube: KubeClient, seeded: SeededSample, replicas: int) -> None:
    path = seeded.repo.path / "base" / "deployment-canary.yaml"
    path.write_text(path.read_text().replace("replicas: 1", f"replicas: {replicas}"))
    commit_all(seeded.repo.path, f"canary: {replicas} replicas")
    app = resource_path(APPS, "applications", "argocd", seeded.repo.app_name)
    kube.patch(app, {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}})
    wait_for_pods(
        kube, seeded.repo.namespace, seeded.repo.selectors["canary"],
        lambda pods: len(pods) == replicas and all(pod_ready(p) for p in pods), timeout=120,
    )  # fmt: skip


def hold_then_delete_image(
    kube: KubeClient, registry: str, seeded: SeededSample, env: dict[str, str]
) -> Run:
    """Deploy, and delete the pushed manifest right after the pin (a held Argo CD operation
    keeps the deploy waiting there; see tests/integration/test_deploy_runtime_failures.py)."""
    import threading

    app = resource_path(APPS, "applications", "argocd", seeded.repo.app_name)
    operation = {"sync": {"revision": "held"}, "retry": {"limit": 5, "backoff": {"duration": "1h"}}}
    kube.patch(app, {"operation": operation})
    result: list[Run] = []
    change_source(seeded, "pull")
    worker = threading.Thread(
        target=lambda: result.append(run_deploy(deploy_args(seeded, "pull"), env)), daemon=True
    )
    worker.start()
    deadline = time.monotonic() + 120
    digest = ""
    while not digest and time.monotonic() < deadline:
        annotations = kube.get(app)["metadata"].get("annotations") or {}
        if annotations.get("pipeline.dev/canary-run", "").endswith("-pull"):
            digest = annotations["pipeline.dev/canary-digest"]
        else:
            time.sleep(0.05)  # benchmark harness only: the product never polls
    repository = seeded.repo.image_repository.split("/", 1)[1]
    requests.delete(f"http://{registry}/v2/{repository}/manifests/{digest}", timeout=10)
    kube.patch(app, {"status": {"operationState": {"phase": "Terminating"}}})
    worker.join(timeout=180)
    return result[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--services", type=int, default=9)
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    state = work / "sandbox"
    status = sandbox_up(state)
    try:
        results = _benchmark(status, work, options)
    finally:
        subprocess.run([*PIPELINE, "sandbox", "down", "--state-dir", str(state)], check=False)
    print(json.dumps(results, indent=2))
    if options.write_docs:
        write_docs(results, Path(__file__).resolve().parents[1] / "docs")
    return 0


def _benchmark(status: dict[str, Any], work: Path, options: argparse.Namespace) -> dict[str, Any]:
    kube = KubeClient(status["server"], user_agent="bench")
    env = {**os.environ, "KUBECONFIG": status["kubeconfig"], "DOCKER_HOST": status["docker_host"]}
    count = max(options.services, 4)
    samples = [
        seed_sample(kube, work / f"b{i}", registry=status["registry"],
                    docker_host=status["docker_host"], service=f"b{i}")
        for i in range(1, count + 1)
    ]  # fmt: skip
    recorder = Recorder(kube)
    recorder.start()

    def one(seeded: SeededSample, run_id: str, *extra: str) -> dict[str, Any]:
        run = run_deploy(deploy_args(seeded, run_id, *extra), env)
        (service,) = run.report["services"]
        return {**measured(run, recorder, service), "requests": run.report["requests"]}

    single = []
    for n in range(options.rounds):
        change_source(samples[0], f"round {n}")
        single.append(one(samples[0], f"single-{n}"))
    with_replicas(kube, samples[1], 3)
    change_source(samples[1], "replicas")
    replicas = one(samples[1], "replicas-3")

    def scale(targets: list[SeededSample], run_id: str, role: str) -> dict[str, Any]:
        args = [a for s in targets for a in ("--service", s.repo.namespace)]
        args += ["--image", targets[0].repo.image_repository, "--tag", "{service}-api-dev-canary",
                 "--no-build", "--timeout", "120", "--run-id", run_id]  # fmt: skip
        # each service gets its own digest: --digest is one flag, so deploy the same one
        run = run_deploy([*args, "--digest", targets[0].digests[role]], env)
        services = [measured(run, recorder, s) for s in run.report["services"]]
        moments = [s["moments"] for s in services]
        first_update = min(m["template_updated"] or run.wall for m in moments)
        last_ready = max(m["last_pod_ready"] or 0.0 for m in moments)
        return {
            "services": len(targets),
            "exit_code": run.code,
            "wall": round(run.wall, 3),
            "start_to_last_sync_requested": max(m["sync_requested"] or 0.0 for m in moments),
            "rollouts": round(last_ready - first_update, 3),  # first template update -> last ready
            "overhead": round(run.wall - (last_ready - first_update), 3),
            "last_pod_ready_to_exit": round(run.wall - last_ready, 3),
            "requests": run.report["requests"],
        }

    scaled = {
        "one": scale(samples[:1], "scale-1", "stable"),
        "many": scale(samples[: options.services], "scale-n", "canary"),
    }
    change_source(samples[2], "crash")
    crash = one(samples[2], "crash", "--build-arg", "CRASH=1")
    pull_run = hold_then_delete_image(kube, status["registry"], samples[3], env)
    (pull_service,) = pull_run.report["services"]
    pull = measured(pull_run, recorder, pull_service)
    recorder.stop.set()
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "single": single,
        "single_median": {
            k: _median([r[k] for r in single])
            for k in (
                "wall",
                "build_and_push",
                "container_start",
                "overhead",
                "overhead_without_argocd",
                "push_done_to_sync_requested",
                "last_pod_ready_to_exit",
            )
        },
        "replicas_3": replicas,
        "scale": scaled,
        "failures": {"crash_loop": crash, "image_pull": pull},
    }


if __name__ == "__main__":
    raise SystemExit(main())
