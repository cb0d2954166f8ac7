"""What bench_deploy.py measures with: timestamped cluster watches and a timed CLI run.

``Recorder`` keeps cluster-wide watches (client-go reflector style, pipeline.sandbox.kubeclient
.list_and_watch) on pods, Deployments and Applications and stamps every event with the
benchmark's monotonic clock. ``run_deploy`` runs `pipeline deploy-canary --output json` as a
user would and stamps each progress line it prints on stderr. ``analyse`` lines both up:
the moment the kubelet reported something is the moment its pod update reached the watch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.images import digest_from_image_id
from pipeline.core.rollout import observe_pod
from pipeline.sandbox.kubeclient import KubeClient, list_and_watch, resource_path

PIPELINE = [sys.executable, "-m", "pipeline"]
Obj = dict[str, Any]


class Recorder:
    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.events: list[tuple[float, str, Obj]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def start(self) -> None:
        paths = {
            "pod": resource_path("v1", "pods"),
            "deployment": resource_path("apps/v1", "deployments"),
            "application": resource_path("argoproj.io/v1alpha1", "applications", "argocd"),
        }
        for kind, path in paths.items():

            def handler(event_type: str, obj: Obj, kind: str = kind) -> None:
                with self.lock:
                    self.events.append((time.monotonic(), kind, obj))

            args = (self.kube, path, handler, self.stop)
            threading.Thread(target=list_and_watch, args=args, daemon=True).start()

    def between(
        self, start: float, end: float, kind: str, namespace: str
    ) -> list[tuple[float, Obj]]:
        with self.lock:
            return [
                (t, o)
                for t, k, o in self.events
                if k == kind and start <= t <= end and o["metadata"].get("namespace") == namespace
            ]


@dataclass
class Run:
    started: float
    exited: float
    code: int
    report: Obj
    lines: list[tuple[float, str]] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return self.exited - self.started

    def line_at(self, text: str) -> float | None:
        return next((t for t, line in self.lines if text in line), None)


def run_deploy(args: list[str], env: dict[str, str]) -> Run:
    started = time.monotonic()
    proc = subprocess.Popen(
        [*PIPELINE, "deploy-canary", "--output", "json", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append((time.monotonic(), line.rstrip("\n")))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    stdout = proc.stdout.read() if proc.stdout else ""
    code = proc.wait()
    exited = time.monotonic()
    reader.join(timeout=10)
    try:
        report = json.loads(stdout)
    except ValueError:
        raise SystemExit(
            f"deploy-canary printed no JSON (exit {code}):\n" + "\n".join(text for _, text in lines)
        ) from None
    return Run(started, exited, code, report, lines)


def _ready_with(pod: Obj, digest: str) -> bool:
    return any(
        s.get("ready") and digest_from_image_id(s.get("imageID", "")) == digest
        for s in pod.get("status", {}).get("containerStatuses") or []
    )


def analyse(run: Run, recorder: Recorder, service: Obj, app: str) -> dict[str, float | None]:
    """Absolute moments of one service's deploy, relative to the process start (seconds)."""
    namespace, digest = service["namespace"], service["digest"]
    t0, t1 = run.started, run.exited + 0.5

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - t0, 3)

    sync_requested = next(
        (
            t
            for t, a in recorder.between(t0, t1, "application", "argocd")
            if a["metadata"]["name"] == app
            and digest in json.dumps((a.get("operation") or {}).get("info") or [])
        ),
        None,
    )
    template_updated = next(
        (
            t
            for t, d in recorder.between(t0, t1, "deployment", namespace)
            if digest in json.dumps(d["spec"]["template"]["spec"]["containers"])
        ),
        None,
    )
    first_ready: dict[str, float] = {}
    failure_seen = None
    for t, pod in recorder.between(t0, t1, "pod", namespace):
        name = pod["metadata"]["name"]
        if _ready_with(pod, digest):
            first_ready.setdefault(name, t)
        if failure_seen is None and observe_pod(pod, digest, None, 2).failure:
            failure_seen = t
    return {
        "push_done": rel(run.line_at(f"[{service['service']}] build done")),
        "sync_requested": rel(sync_requested),
        "template_updated": rel(template_updated),
        "last_pod_ready": rel(max(first_ready.values()) if first_ready else None),
        "failure_reported_by_kubelet": rel(failure_seen),
        "exit": rel(run.exited),
    }


def sandbox_up(state: Path) -> dict[str, Any]:
    """`pipeline sandbox up` on ``state`` (own registry and Docker Engine); its status JSON."""
    up = subprocess.run(
        [*PIPELINE, "sandbox", "up", "--state-dir", str(state), "--output", "json",
         "--kubelet-backoff", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    status: dict[str, Any] = json.loads(up.stdout)
    return status
