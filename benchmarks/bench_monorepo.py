"""Benchmark deploy-canary on a production-sized GitOps monorepo served over smart HTTP.

Starts its own sandbox (`pipeline sandbox up --state-dir <tmp>`), writes the monorepo fixture
(`tests/fixtures/monorepo.py`, one service, padded to `--files` files), serves it with
`pipeline/services/githttp.py`, creates its ApplicationSet, and lets the first run print its
fix plan, which is applied as a user would (`git apply`, commit, push, apply the
ApplicationSet). Then, `--rounds` times, it deploys two pushed images in turn with
`--no-build --digest` (a real rollout each time) and records the wall time and the JSON step
timings, and times a `--dry-run` (connect, read, preflight with the source rendered at its
revision, no write).

Usage: .venv/bin/python benchmarks/bench_monorepo.py [--files 3000] [--rounds 3] [--no-write]
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

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docsblock import replace_block

from pipeline.sandbox.kubeclient import KubeClient, resource_path
from pipeline.services.githttp import GitServer, publish, run_git
from tests.fixtures.monorepo import write_monorepo
from tests.fixtures.services import write_busybox_context

PIPELINE = [sys.executable, "-m", "pipeline"]
START, END = "<!-- bench_monorepo:start -->", "<!-- bench_monorepo:end -->"
SERVICE = "orders"
APPSETS = resource_path("argoproj.io/v1alpha1", "applicationsets", "argocd")
APPS = resource_path("argoproj.io/v1alpha1", "applications", "argocd")


def cli(env: dict[str, str], *args: str) -> tuple[float, int, dict[str, Any]]:
    start = time.perf_counter()
    proc = subprocess.run([*PIPELINE, *args], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    return wall, proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}


def wait(what: str, probe: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)  # polling a condition with a deadline, not a synchronisation guess
    raise SystemExit(f"timed out waiting for {what}")


def push(env: dict[str, str], work: Path, ref: str, marker: str) -> str:
    from pipeline.adapters.builder import select_builder
    from pipeline.core.build import BuildRequest
    from pipeline.core.images import parse_image_ref

    builder = select_builder(env["DOCKER_HOST"], credentials=lambda host: None)
    context = write_busybox_context(work / marker, marker)
    return builder.build_and_push(BuildRequest(context=context, image=parse_image_ref(ref))).digest


def run(files: int, rounds: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-monorepo-"))
    state = work / "sandbox"
    up = subprocess.run(
        [*PIPELINE, "sandbox", "up", "--state-dir", str(state), "--output", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    status = json.loads(up.stdout)
    server = GitServer(work / "served")
    (work / "served").mkdir()
    server.start()
    try:
        env = {
            **os.environ,
            "KUBECONFIG": status["kubeconfig"],
            "DOCKER_HOST": status["docker_host"],
        }
        kube = KubeClient(status["server"], user_agent="bench")
        image = f"{status['registry']}/acme/platform"
        repo = write_monorepo(
            work / "gitops", image, filler_files=max(0, files - 20),
            repo_url=server.repo_url("gitops"), services=(SERVICE,),
        )  # fmt: skip
        run_git("checkout", "-q", "develop", cwd=repo.path)
        publish(repo.path, server.root, "gitops")
        kube.create("/api/v1/nodes", {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{SERVICE}", "labels": {"domain": SERVICE}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}},
        })  # fmt: skip
        for name, group, version in (
            ("destinationrules", "networking.istio.io", "v1beta1"),
            ("servicemonitors", "monitoring.coreos.com", "v1"),
            ("externalsecrets", "external-secrets.io", "v1beta1"),
        ):
            kind = {"destinationrules": "DestinationRule", "servicemonitors": "ServiceMonitor",
                    "externalsecrets": "ExternalSecret"}[name]  # fmt: skip
            schema = {
                "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            }
            kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", {
                "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": f"{name}.{group}"},
                "spec": {"group": group, "scope": "Namespaced",
                         "names": {"plural": name, "kind": kind},
                         "versions": [{"name": version, "served": True, "storage": True,
                                       "schema": schema}]},
            })  # fmt: skip
        digests = [
            push(env, work, f"{image}:{SERVICE}-api-dev-{tag}", f"{tag}-{i}")
            for i, tag in enumerate(("latest", "canary"))
        ]
        other = push(env, work, f"{image}:{SERVICE}-api-dev-canary", "canary-2")
        appset_file = repo.path / "argocd/applicationset-dev.yaml"
        kube.create(APPSETS, yaml.safe_load(appset_file.read_text()))
        app = f"{APPS}/dev-api-{SERVICE}"
        wait("the Application", lambda: kube.get_or_none(app) is not None)
        context = str(work / "canary-1")
        fix = work / "fix.patch"
        cli(env, "deploy-canary", "-s", SERVICE, "--context", context, "--dry-run",
            "-o", "json", "--fix-out", str(fix))  # fmt: skip
        run_git("apply", str(fix), cwd=repo.path)
        run_git("commit", "-qam", "canary fix plan", cwd=repo.path)
        publish(repo.path, server.root, "gitops")
        live = kube.get(f"{APPSETS}/dev-api")
        fixed = yaml.safe_load(appset_file.read_text())
        fixed["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        kube.replace(f"{APPSETS}/dev-api", fixed)
        wait("the regenerated Application", lambda: "canary.kustomize.image-name" in json.dumps(
            kube.get(app)["metadata"].get("annotations") or {}))  # fmt: skip

        dry = [cli(env, "deploy-canary", "-s", SERVICE, "--context", context, "--dry-run",
                   "-o", "json")[0] for _ in range(rounds)]  # fmt: skip
        deploys = []
        for i in range(rounds):
            digest = (digests[1], other)[i % 2]
            wall, code, report = cli(
                env, "deploy-canary", "-s", SERVICE, "--no-build", "--digest", digest,
                "-o", "json", "--run-id", f"b{i}",
            )  # fmt: skip
            if code != 0:
                raise SystemExit(f"deploy round {i} exited {code}: {json.dumps(report)[:2000]}")
            timings = report["services"][0]["timings"]
            deploys.append({"wall": wall, **timings})
    finally:
        server.stop()
        subprocess.run([*PIPELINE, "sandbox", "down", "--state-dir", str(state)], check=False)
    median = {k: round(statistics.median(d[k] for d in deploys), 3) for k in deploys[0]}
    return {
        "files": sum(1 for p in repo.path.rglob("*") if p.is_file() and ".git" not in p.parts),
        "rounds": rounds,
        "dry_run_wall_s": round(statistics.median(dry), 3),
        "deploy_median_s": median,
        "overhead_s": round(median["wall"] - median.get("verify", 0.0), 3),
    }


def write_docs(result: dict[str, Any]) -> None:
    d = result["deploy_median_s"]
    steps = ", ".join(f"{k} {v}" for k, v in d.items() if k != "wall")
    block = (
        f"{START}\n"
        f"deploy-canary on a {result['files']:,}-file monorepo served over smart HTTP (one "
        f"service, its ApplicationSet, the fix plan applied), median of {result['rounds']}:\n\n"
        "| case | seconds |\n|---|---|\n"
        f"| `--dry-run` (connect, read, preflight with the source rendered) | "
        f"{result['dry_run_wall_s']} |\n"
        f"| `--no-build --digest` deploy, wall (a real rollout) | {d['wall']} |\n"
        f"| its overhead: wall minus `verify` (the pod's own start) | {result['overhead_s']} |\n\n"
        f"Step timings: {steps}.\n"
        f"{END}"
    )
    replace_block(START, END, block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.files, args.rounds)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_docs(result)


if __name__ == "__main__":
    main()
