"""One pod on the sandbox node: pull, configure, start and restart its containers, report status.

Follows the kubelet's ``SyncPod`` (``kuberuntime_manager.go``): a container that is not running
is (re)started unless ``restartPolicy`` says otherwise; a crashed one waits out the crash-loop
backoff first (``doBackOff``: first restart at once, then ``base``, doubling to ``cap``;
message ``back-off 10s restarting failed container=x pod=y_ns(uid)``). Image pulls use their
own backoff (``image_manager.go``): ErrImagePull, then ImagePullBackOff until the backoff since
the last failure is over. Events carry the kubelet's reasons (Pulling, Pulled, Failed, BackOff,
Created, Started, Killing). ``sync`` returns the seconds until it must run again (a timer),
or None to wait for the next watch or container-exit event.

Each pod gets its own network namespace first (the sandbox container, ``containers.py``) and an
IP from the node's pool (``node.PodIPs``), reported as ``status.podIP``; its containers join
that namespace. Probes (``podprobes.py``) decide ``started``/``ready`` of a running container;
a liveness or startup failure kills it (``Killing``: ``Container app failed liveness probe,
will be restarted``, after the grace period) and it is started again at once, as
``computePodActions`` does, without crash-loop backoff. ``terminate`` stops the containers with
SIGTERM, SIGKILL after the grace period, then removes them and the sandbox.
"""

from __future__ import annotations

import threading
from typing import Any

from pipeline.sandbox.controllers import podstatus as ps
from pipeline.sandbox.controllers.containerconfig import (
    ContainerConfigError,
    container_env,
    field_ref_values,
    secret_data,
)
from pipeline.sandbox.controllers.containers import ContainerState, Launch, RuntimeRefused
from pipeline.sandbox.controllers.eventrecorder import NORMAL, WARNING
from pipeline.sandbox.controllers.imagepull import (
    ImageResolveError,
    ResolvedImage,
    parse_container_image,
)
from pipeline.sandbox.controllers.node import ContainerWaiting, NodeContext, go_duration
from pipeline.sandbox.controllers.podimages import ensure_image
from pipeline.sandbox.controllers.podprobes import ContainerProbes
from pipeline.sandbox.controllers.podstatus import CONTAINER_CREATING
from pipeline.sandbox.controllers.prober import ProbeTarget
from pipeline.sandbox.kubeclient import ApiError, resource_path

Obj = dict[str, Any]


_MAX_QUICK_RESTARTS = 3
RELIST_PERIOD = 1.0  # pkg/kubelet/kubelet.go genericPlegRelistPeriod
_KILLED = -1.0  # _observe_running: a probe failure killed the container


class PodSync:
    def __init__(self, node: NodeContext) -> None:
        self._node = node
        self.records: dict[str, ps.ContainerRecord] = {}
        self._start_time: float | None = None
        self._written: Obj | None = None
        self._pod: Obj = {}
        self._sandbox_id = ""
        self.pod_ip = ""
        self._probes: dict[str, ContainerProbes] = {}

    @property
    def _pod_ref(self) -> str:
        meta = self._pod["metadata"]
        return f"{meta['name']}_{meta['namespace']}({meta['uid']})"

    def sync(self, pod: Obj) -> float | None:
        self._pod = pod
        now = self._node.clock()
        if self._start_time is None:
            self._start_time = now
        delays: list[float] = []
        for container in pod["spec"].get("containers", []):
            rec = self.records.setdefault(
                container["name"], ps.ContainerRecord(container["name"], container["image"])
            )
            rec.image = container["image"]
            delay = self._sync_until_settled(container, rec)
            if delay is not None:
                delays.append(delay)
        self._write_status(pod)
        return min(delays) if delays else None

    def terminate(self, grace: float = 0.0) -> None:
        """Stop every container of the pod (SIGTERM, SIGKILL after ``grace`` seconds, all at
        once), then remove them and the pod's sandbox (pod deleted or kubelet stopping)."""
        stops = []
        for rec in self.records.values():
            if rec.runtime_id and "running" in rec.state:
                if self._pod:
                    self._event(NORMAL, "Killing", f"Stopping container {rec.name}")
                if grace > 0:
                    stop = threading.Thread(
                        target=self._node.runtime.stop, args=(rec.runtime_id, grace), daemon=True
                    )
                    stop.start()
                    stops.append(stop)
        for stop in stops:
            stop.join(grace + 30)
        for rec in self.records.values():
            if rec.runtime_id:
                self._node.runtime.remove(rec.runtime_id)
                rec.runtime_id = ""
        if self._sandbox_id:
            self._node.runtime.remove(self._sandbox_id)
            self._sandbox_id = ""
        if self._pod:
            self._node.pod_ips.release(self._pod["metadata"].get("uid", ""))

    # -- one container ------------------------------------------------------------------------
    def _sync_until_settled(self, container: Obj, rec: ps.ContainerRecord) -> float | None:
        """Sync, and sync again while a just-started container has already exited: like the
        kubelet's relist, status reports what the runtime shows now, so a container that dies
        at once is never reported Ready."""
        for _ in range(_MAX_QUICK_RESTARTS):
            started = rec.runtime_id
            try:
                delay = self._sync_container(container, rec)
            except ContainerWaiting as wait:
                self._set_waiting(rec, wait.reason, wait.message)
                return wait.delay
            if rec.runtime_id == started or "running" not in rec.state:
                return delay
            state = self._node.runtime.state(rec.runtime_id)
            if state is not None and state.running:
                return delay
        return delay

    def _sync_container(self, container: Obj, rec: ps.ContainerRecord) -> float | None:
        killed = False
        if "running" in rec.state:
            state = self._node.runtime.state(rec.runtime_id)
            if state is not None and state.running:
                delay = self._observe_running(rec)
                if delay != _KILLED:
                    return delay
                killed = True
                state = self._node.runtime.state(rec.runtime_id)
            self._record_exit(rec, state)
        if rec.finished_at and not killed:
            delay = self._restart_delay(rec)
            if delay is not None:
                return delay if delay > 0 else None
        try:
            ref = parse_container_image(container["image"])
        except ImageResolveError as e:
            self._event(WARNING, "InspectFailed", e.message)
            self._event(WARNING, "Failed", f"Error: {e.reason}")
            raise ContainerWaiting(e.reason, e.message, None) from e
        resolved = ensure_image(self._node, self._pod, container, ref)
        try:
            env = container_env(container, self._pod["metadata"]["namespace"], self._lookup)
        except ContainerConfigError as e:
            self._event(WARNING, "Failed", f"Error: {e}")
            raise ContainerWaiting(
                "CreateContainerConfigError", str(e), self._node.crash_backoff.base
            ) from e
        self._ensure_sandbox()
        env = field_ref_values(self._pod, env, container, self.pod_ip)
        self._start(container, rec, resolved, env)
        return RELIST_PERIOD

    def _observe_running(self, rec: ps.ContainerRecord) -> float | None:
        """Without probes: ready once the container was seen running a relist period after its
        start (the kubelet's PLEG relists every second), so a container that dies at once never
        is. With probes: what they say; ``_KILLED`` when a probe failure killed it."""
        probes = self._probes.get(rec.name)
        if probes:
            target = ProbeTarget(
                self._node.runtime, self._sandbox_id, rec.runtime_id, self.pod_ip, probes.ports
            )
            verdict = probes.check(target, self._node.clock(), self._event)
            rec.started, rec.ready = verdict.started, verdict.ready
            if not verdict.kill:
                return verdict.delay
            kind = "Startup" if "startup" in verdict.kill else "Liveness"
            self._event(NORMAL, "Killing", f"{verdict.kill}, will be restarted")
            grace = float(self._pod["spec"].get("terminationGracePeriodSeconds", 30) or 0)
            self._node.runtime.stop(rec.runtime_id, probes.grace(kind, grace))
            rec.ready = rec.started = False
            return _KILLED
        if rec.ready:
            return None
        wait = rec.running_since + RELIST_PERIOD - self._node.clock()
        if wait > 0:
            return wait
        rec.ready = rec.started = True
        return None

    def _record_exit(self, rec: ps.ContainerRecord, state: ContainerState | None) -> None:
        now = self._node.clock()
        exit_code = state.exit_code if state else 137
        finished = (state.finished_at or now) if state else now
        started = state.started_at if state else now
        body = ps.terminated(
            exit_code,
            started,
            finished,
            rec.container_id,
            oom_killed=bool(state and state.oom_killed),
        )
        rec.state, rec.ready, rec.started = body, False, False
        rec.last_terminated = body["terminated"]
        rec.finished_at = finished
        self._node.logs.finish(rec.runtime_id)

    def _restart_delay(self, rec: ps.ContainerRecord) -> float | None:
        """None to restart now; 0 to stay terminated; else seconds of crash-loop backoff left."""
        policy = self._pod["spec"].get("restartPolicy") or "Always"
        exit_code = rec.last_terminated.get("exitCode", 1)
        if policy == "Never" or (policy == "OnFailure" and exit_code == 0):
            rec.state = {"terminated": rec.last_terminated}
            return 0.0
        key = f"{self._pod['metadata']['uid']}/{rec.name}"
        backoff = self._node.crash_backoff
        if backoff.in_backoff_since(key, rec.finished_at):
            message = (
                f"back-off {go_duration(backoff.get(key))} restarting failed "
                f"container={rec.name} pod={self._pod_ref}"
            )
            if rec.state.get("waiting", {}).get("reason") != "CrashLoopBackOff":
                self._event(
                    WARNING,
                    "BackOff",
                    f"Back-off restarting failed container {rec.name} in pod {self._pod_ref}",
                )
            rec.state = ps.waiting("CrashLoopBackOff", message)
            rec.last_state = {"terminated": rec.last_terminated}
            return max(backoff.remaining(key, rec.finished_at), 0.01)
        backoff.next(key, rec.finished_at)
        return None

    def _start(
        self, container: Obj, rec: ps.ContainerRecord, resolved: ResolvedImage, env: dict[str, str]
    ) -> None:
        meta = self._pod["metadata"]
        attempt = rec.restart_count + (1 if rec.finished_at else 0)
        launch = Launch(
            name=f"k8s_{rec.name}_{meta['name']}_{meta['namespace']}_{meta['uid']}_{attempt}",
            image=resolved.image_id,
            entrypoint=container.get("command"),
            args=container.get("args"),
            env=env,
            working_dir=container.get("workingDir"),
            labels={
                "io.kubernetes.pod.uid": meta["uid"],
                "io.kubernetes.pod.name": meta["name"],
                "io.kubernetes.pod.namespace": meta["namespace"],
                "io.kubernetes.container.name": rec.name,
            },
            network_of=self._sandbox_id,
        )
        previous_id = rec.runtime_id
        try:
            runtime_id = self._node.runtime.start(launch)
        except RuntimeRefused as e:
            self._event(WARNING, "Failed", f"Error: {e}")
            raise ContainerWaiting(
                "RunContainerError", str(e), self._node.crash_backoff.base
            ) from e
        self._event(NORMAL, "Created", f"Created container: {rec.name}")
        self._event(NORMAL, "Started", f"Started container {rec.name}")
        if previous_id:
            self._node.logs.publish_previous(self._pod, rec.name, previous_id)
            self._node.runtime.remove(previous_id)
        if rec.finished_at:
            rec.restart_count += 1
            rec.last_state = {"terminated": rec.last_terminated}
        rec.runtime_id = runtime_id
        rec.container_id = f"docker://{runtime_id}"
        rec.image_id = resolved.image_id
        rec.running_since = self._node.clock()
        rec.state = ps.running(rec.running_since)
        rec.ready = rec.started = False
        if self._node.probes:
            self._probes[rec.name] = ContainerProbes(container, rec.running_since)
        self._node.logs.follow(self._pod, rec.name, runtime_id)

    def _ensure_sandbox(self) -> None:
        """``createPodSandbox``: the pod's network namespace and IP, made again if it died."""
        if self._sandbox_id:
            state = self._node.runtime.state(self._sandbox_id)
            if state is not None and state.running:
                return
            self._node.runtime.remove(self._sandbox_id)
        meta = self._pod["metadata"]
        self.pod_ip = self._node.pod_ips.allocate(meta["uid"])
        labels = {
            "io.kubernetes.pod.uid": meta["uid"],
            "io.kubernetes.pod.name": meta["name"],
            "io.kubernetes.pod.namespace": meta["namespace"],
        }
        name = f"k8s_POD_{meta['name']}_{meta['namespace']}_{meta['uid']}_0"
        try:
            self._sandbox_id = self._node.runtime.start_sandbox(name, labels, self.pod_ip)
        except RuntimeRefused as e:
            message = f"Failed to create pod sandbox: {e}"
            self._event(WARNING, "FailedCreatePodSandBox", message)
            raise ContainerWaiting(CONTAINER_CREATING, "", self._node.crash_backoff.base) from e

    # -- API reads and writes -----------------------------------------------------------------
    def _set_waiting(self, rec: ps.ContainerRecord, reason: str, message: str) -> None:
        rec.state = ps.waiting(reason, message)
        rec.ready = rec.started = False
        if rec.last_terminated:
            rec.last_state = {"terminated": rec.last_terminated}

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        plural = "secrets" if kind == "Secret" else "configmaps"
        obj = self._node.client.get_or_none(resource_path("v1", plural, namespace, name))
        if obj is None:
            return None
        return secret_data(obj) if kind == "Secret" else dict(obj.get("data") or {})

    def _event(self, event_type: str, reason: str, message: str) -> None:
        self._node.recorder.event(self._pod, event_type, reason, message)

    def _write_status(self, pod: Obj) -> None:
        assert self._start_time is not None
        records = [
            self.records[c["name"]]
            for c in pod["spec"].get("containers", [])
            if c["name"] in self.records
        ]
        status = ps.pod_status(
            pod, records, start_time=self._start_time, now=self._node.clock(), pod_ip=self.pod_ip
        )
        if self._written is not None and ps.ignoring_times(status) == ps.ignoring_times(
            self._written
        ):
            return
        meta = pod["metadata"]
        path = resource_path("v1", "pods", meta["namespace"], meta["name"]) + "/status"
        try:
            self._node.client.patch(path, {"status": status})
        except ApiError as e:
            if e.status != 404:
                raise
        self._written = status
