"""Container runtimes for the sandbox kubelet: a real Docker Engine, or a simulated one.

``DockerRuntime`` pulls by digest (``repo@sha256:..``) with the pod's credentials, runs each pod
in its own network namespace as the dockershim did: a sandbox ("infra") container
``k8s_POD_<pod>_<ns>_<uid>_0`` with ``network_mode=none`` holds the namespace and puts the pod's
IP on its loopback device, and the pod's containers join it (``network_mode=container:<id>``).
The infra image is imported once from the host's static busybox (no registry pull), standing in
for ``registry.k8s.io/pause``. Containers carry labels naming the pod, container and kubelet
instance (the dockershim's ``io.kubernetes.*`` labels); exits come from the engine's event
stream (``die`` events); stops send SIGTERM and SIGKILL after the grace period (``docker
stop -t``); ``exec`` is the CRI's ExecSync (exec probes). ``SimulatedRuntime`` is used
without Docker: every started container runs forever, so crashes need Docker.
"""

from __future__ import annotations

import io
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pipeline.core.ports import Credentials

LABEL_POD_UID = "io.kubernetes.pod.uid"
LABEL_POD_NAME = "io.kubernetes.pod.name"
LABEL_POD_NAMESPACE = "io.kubernetes.pod.namespace"
LABEL_CONTAINER = "io.kubernetes.container.name"
LABEL_INSTANCE = "pipeline.sandbox.kubelet"
LABEL_CONTAINER_TYPE = "io.kubernetes.docker.type"  # "podsandbox" or "container"
PAUSE_IMAGE = "pipeline-sandbox/pause:busybox"
BUSYBOX = Path("/bin/busybox")


class RuntimeRefused(Exception):
    """The runtime refused: becomes ErrImagePull (pull) or RunContainerError (start)."""


@dataclass(frozen=True)
class Launch:
    name: str
    image: str  # repo@sha256:...
    entrypoint: list[str] | None
    args: list[str] | None
    env: dict[str, str]
    working_dir: str | None
    labels: dict[str, str] = field(default_factory=dict)
    network_of: str = ""  # the pod sandbox whose network namespace the container joins


@dataclass(frozen=True)
class ContainerState:
    running: bool
    exit_code: int
    started_at: float
    finished_at: float
    oom_killed: bool = False


class Runtime(Protocol):
    def has_image(self, image: str) -> bool: ...
    def pull(self, image: str, credentials: Credentials | None) -> None: ...
    def start(self, launch: Launch) -> str: ...
    def start_sandbox(self, name: str, labels: dict[str, str], ip: str) -> str: ...
    def netns_pid(self, container_id: str) -> int | None: ...
    def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]: ...
    def stop(self, container_id: str, grace: float) -> None: ...
    def state(self, container_id: str) -> ContainerState | None: ...
    def logs(self, container_id: str) -> str: ...
    def follow_logs(self, container_id: str) -> Iterator[bytes]: ...
    def remove(self, container_id: str) -> None: ...
    def watch_exits(self, on_exit: Callable[[str], None], stop: threading.Event) -> None: ...
    def stop_watch(self) -> None: ...
    def remove_instance(self, instance: str) -> None: ...
    def close(self) -> None: ...


def _docker_time(text: str) -> float:
    """Docker's RFC 3339 timestamps with nanoseconds (``...T10:00:00.123456789Z``)."""
    if not text or text.startswith("0001-"):
        return 0.0
    whole = datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    fraction = text[19:].rstrip("Z").split("+")[0]
    return whole + (float("0" + fraction) if fraction.startswith(".") else 0.0)


class DockerRuntime:
    def __init__(self, docker_host: str, instance: str) -> None:
        import docker  # the sandbox's only Docker Engine client

        self._docker = docker
        self._client = docker.DockerClient(base_url=docker_host, timeout=120)
        self._instance = instance
        self._events: Any = None

    def has_image(self, image: str) -> bool:
        try:
            self._client.images.get(image)
        except self._docker.errors.ImageNotFound:
            return False
        return True

    def pull(self, image: str, credentials: Credentials | None) -> None:
        repository, digest = image.rsplit("@", 1)
        auth = (
            {"username": credentials.username, "password": credentials.password}
            if credentials
            else None
        )
        try:
            self._client.images.pull(repository, tag=digest, auth_config=auth)
        except self._docker.errors.APIError as e:
            raise RuntimeRefused(str(e.explanation or e)) from e

    def start(
        self, launch: Launch, *, replace: bool = True, cap_add: list[str] | None = None
    ) -> str:
        """Create and start a container; a failed start leaves no container behind."""
        errors = self._docker.errors
        try:
            container = self._client.containers.create(
                launch.image,
                cap_add=cap_add,
                command=launch.args,
                entrypoint=launch.entrypoint,
                environment=launch.env,
                working_dir=launch.working_dir,
                labels={**launch.labels, LABEL_INSTANCE: self._instance},
                name=launch.name,
                network_mode=f"container:{launch.network_of}" if launch.network_of else "none",
            )
        except errors.APIError as e:
            if e.status_code == 409 and replace:  # a leftover of ours with this name
                self.remove(launch.name)
                return self.start(launch, replace=False, cap_add=cap_add)
            raise RuntimeRefused(str(e.explanation or e)) from e
        try:
            container.start()
        except errors.APIError as e:
            self.remove(str(container.id))
            raise RuntimeRefused(str(e.explanation or e)) from e
        return str(container.id)

    def _ensure_pause_image(self) -> None:
        if self.has_image(PAUSE_IMAGE):
            return
        if not BUSYBOX.exists():
            raise RuntimeRefused(f"{BUSYBOX} not found: the pod sandbox image is built from it")
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            tar.add(BUSYBOX, arcname="bin/busybox")
        repository, tag = PAUSE_IMAGE.rsplit(":", 1)
        self._client.api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)

    def start_sandbox(self, name: str, labels: dict[str, str], ip: str) -> str:
        """The pod's infra container: its own network namespace with ``ip`` on loopback."""
        self._ensure_pause_image()
        script = f"/bin/busybox ip addr add {ip}/32 dev lo; exec /bin/busybox sleep 2147483647"
        launch = Launch(
            name=name,
            image=PAUSE_IMAGE,
            entrypoint=["/bin/busybox", "sh", "-c"],
            args=[script],
            env={},
            working_dir=None,
            labels={**labels, LABEL_CONTAINER_TYPE: "podsandbox"},
        )
        return self.start(launch, cap_add=["NET_ADMIN"])

    def netns_pid(self, container_id: str) -> int | None:
        try:
            pid = self._client.api.inspect_container(container_id)["State"].get("Pid")
        except self._docker.errors.NotFound:
            return None
        return int(pid) if pid else None

    def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        """Run ``command`` in the container; (exit code, combined output); (-1, "") on timeout."""
        try:
            exec_id = self._client.api.exec_create(container_id, command)["Id"]
        except self._docker.errors.APIError as e:
            return 126, str(e.explanation or e)
        result: dict[str, bytes] = {}

        def run() -> None:
            try:
                result["out"] = self._client.api.exec_start(exec_id)
            except self._docker.errors.APIError as e:
                result["out"] = str(e.explanation or e).encode()

        thread = threading.Thread(target=run, name="exec", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            return -1, ""
        code = self._client.api.exec_inspect(exec_id).get("ExitCode")
        return (126 if code is None else int(code)), result.get("out", b"").decode(errors="replace")

    def stop(self, container_id: str, grace: float) -> None:
        """SIGTERM (the image's StopSignal), then SIGKILL after ``grace`` seconds."""
        try:
            self._client.api.stop(container_id, timeout=max(0, int(grace)))
        except self._docker.errors.NotFound:
            return
        except self._docker.errors.APIError as e:
            if e.status_code not in (304, 409):
                raise

    def state(self, container_id: str) -> ContainerState | None:
        try:
            attrs = self._client.api.inspect_container(container_id)
        except self._docker.errors.NotFound:
            return None
        st = attrs["State"]
        return ContainerState(
            running=bool(st.get("Running")),
            exit_code=int(st.get("ExitCode", 0)),
            started_at=_docker_time(st.get("StartedAt", "")),
            finished_at=_docker_time(st.get("FinishedAt", "")),
            oom_killed=bool(st.get("OOMKilled")),
        )

    def logs(self, container_id: str) -> str:
        try:
            raw: bytes = self._client.api.logs(container_id, stdout=True, stderr=True)
        except self._docker.errors.NotFound:
            return ""
        return raw.decode(errors="replace")

    def follow_logs(self, container_id: str) -> Iterator[bytes]:
        try:
            yield from self._client.api.logs(container_id, stream=True, follow=True)
        except self._docker.errors.APIError:
            return

    def remove(self, container_id: str) -> None:
        try:
            self._client.api.remove_container(container_id, force=True)
        except self._docker.errors.NotFound:
            return
        except self._docker.errors.APIError as e:
            if e.status_code != 409:  # removal already in progress
                raise

    def watch_exits(self, on_exit: Callable[[str], None], stop: threading.Event) -> None:
        """Call ``on_exit(pod_uid)`` for every ``die`` event of this instance's containers."""
        while not stop.is_set():
            filters = {
                "type": "container",
                "event": "die",
                "label": f"{LABEL_INSTANCE}={self._instance}",
            }
            try:
                self._events = self._client.events(decode=True, filters=filters)
                on_exit("")  # (re)connected: events may have been missed, resync everything
                for event in self._events:
                    labels = event.get("Actor", {}).get("Attributes", {})
                    on_exit(str(labels.get(LABEL_POD_UID, "")))
            except Exception:  # a dropped or broken stream is reconnected
                if not stop.wait(0.5):
                    continue

    def stop_watch(self) -> None:
        if self._events is not None:
            self._events.close()

    def remove_instance(self, instance: str) -> None:
        for container in self._client.containers.list(
            all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"}
        ):
            self.remove(container.id)

    def close(self) -> None:
        self._client.close()


class SimulatedRuntime:
    """No containers: images are only resolved, and a started container runs until removed."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._images: set[str] = set()
        self._running: dict[str, float] = {}

    def has_image(self, image: str) -> bool:
        return image in self._images

    def pull(self, image: str, credentials: Credentials | None) -> None:
        self._images.add(image)

    def start(self, launch: Launch) -> str:
        container_id = uuid.uuid4().hex
        self._running[container_id] = self._clock()
        return container_id

    def start_sandbox(self, name: str, labels: dict[str, str], ip: str) -> str:
        return self.start(Launch(name, PAUSE_IMAGE, None, None, {}, None, labels))

    def netns_pid(self, container_id: str) -> int | None:
        return None

    def exec(self, container_id: str, command: list[str], timeout: float) -> tuple[int, str]:
        return 0, ""

    def stop(self, container_id: str, grace: float) -> None:
        self._running.pop(container_id, None)

    def state(self, container_id: str) -> ContainerState | None:
        started = self._running.get(container_id)
        return None if started is None else ContainerState(True, 0, started, 0.0)

    def logs(self, container_id: str) -> str:
        return ""

    def follow_logs(self, container_id: str) -> Iterator[bytes]:
        return iter(())

    def remove(self, container_id: str) -> None:
        self._running.pop(container_id, None)

    def watch_exits(self, on_exit: Callable[[str], None], stop: threading.Event) -> None:
        stop.wait()

    def stop_watch(self) -> None:
        return

    def remove_instance(self, instance: str) -> None:
        self._running.clear()

    def close(self) -> None:
        return
