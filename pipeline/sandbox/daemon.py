"""The sandbox daemon: one process running the API server and every controller.

Controllers run as threads but talk to the API server over HTTP only, as real controllers do.
The registry and dockerd are child processes tied to this one (PR_SET_PDEATHSIG), so a killed
daemon leaves nothing behind; kubelet containers carry a label and are removed on the next start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import requests

from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.argocdapi import ArgoCDAPIServer
from pipeline.sandbox.argocdapi.identity import ServiceAccountClient, install_identity
from pipeline.sandbox.children import Children, Handle
from pipeline.sandbox.controllers.applicationset import ApplicationSetController
from pipeline.sandbox.controllers.argocd import ArgoCDController
from pipeline.sandbox.controllers.deployment import DeploymentController
from pipeline.sandbox.controllers.kubelet import Kubelet
from pipeline.sandbox.controllers.loadedimages import LOADED_IMAGES_FILE
from pipeline.sandbox.controllers.scheduler import Scheduler
from pipeline.sandbox.kubeclient import KubeClient
from pipeline.sandbox.state import SandboxConfig, SandboxStatus, StateDir, write_kubeconfig
from pipeline.services.dockerd import DockerEngine, ensure_engine
from pipeline.services.process import port_open
from pipeline.services.registry import Registry, start_registry
from pipeline.services.tls import KeyPair, create_ca, issue_server_cert

log = logging.getLogger("pipeline.sandbox")


class Sandbox:
    """Start everything in order; ``stop`` tears it down in reverse."""

    def __init__(self, state: StateDir, config: SandboxConfig) -> None:
        self.state = state
        self.config = config
        self.stop_event = threading.Event()
        self._stack = ExitStack()
        self._threads: list[threading.Thread] = []
        self.registry = config.registry
        self.docker_host = config.docker_host
        self.server: APIServer | None = None
        self.children = Children()
        self.status: SandboxStatus | None = None

    def start(self) -> SandboxStatus:
        state, config = self.state, self.config
        self._stack.callback(self.children.stop_all)
        if self.registry is None:
            registry_dir = state.path / "registry"
            if config.registry_port:  # a killed daemon's registry may still be shutting down
                _wait_port_free(config.registry_port, self.stop_event)
            reg = start_registry(registry_dir, port=config.registry_port)
            self.registry = reg.address
            port = config.registry_port = int(reg.address.rsplit(":", 1)[1])
            self.children.add(
                "registry",
                reg,
                lambda: start_registry(registry_dir, port=port),
                _registry_answers,
            )
        if config.docker and self.docker_host is None:
            engine = ensure_engine(state.path / "docker")
            self.docker_host = engine.host
            if engine.proc is not None:  # our own dockerd, not a system engine
                self.children.add(
                    "dockerd", engine, lambda: ensure_engine(state.path / "docker"), _running
                )
        tls, ca_path = serving_certificate(state.path / "tls")
        server = APIServer(
            port=config.api_port,
            state_file=state.store_file,
            tls=tls,
            secure_port=config.secure_port,
            root_ca=ca_path.read_bytes(),
            history_window=config.watch_window,
        )
        server.start()
        self._stack.callback(server.stop)
        self.server = server
        config.api_port = int(server.url.rsplit(":", 1)[1])
        config.secure_port = int(server.secure_url.rsplit(":", 1)[1])
        # argocd-server as its ServiceAccount over HTTPS; trees as the controller sees them
        identity = install_identity(self._client("argocd-install"))
        argocd_server = ArgoCDAPIServer(
            ServiceAccountClient(server.secure_url, identity, ca_path),
            state.path / "argocd-server",
            port=config.argocd_port,
            tls=tls,
            secure_port=config.argocd_secure_port,
            tree_kube=self._client("argocd-application-controller"),
        )
        argocd_server.start()
        self._stack.callback(argocd_server.stop)
        config.argocd_port = int(argocd_server.url.rsplit(":", 1)[1])
        config.argocd_secure_port = int(argocd_server.secure_url.rsplit(":", 1)[1])
        state.write_config(config)
        write_kubeconfig(state.kubeconfig, server.url)
        docker_host = self.docker_host if config.docker else None
        # stable across restarts, so the next `up` finds a killed run's containers
        instance = hashlib.sha256(str(state.path).encode()).hexdigest()[:12]
        if docker_host:
            Kubelet.cleanup(docker_host, instance)
        kubelet = Kubelet(
            self._client("kubelet"),
            docker_host=docker_host,
            insecure_registries=[self.registry],
            registry_ca=config.registry_ca,
            backoff_base=config.kubelet_backoff,
            max_pods=config.max_pods,
            instance=instance,
            manage_other_nodes=True,
            loaded_images=state.path / LOADED_IMAGES_FILE,
        )
        argocd = ArgoCDController(
            self._client("argocd-application-controller"),
            work_dir=state.path / "argocd",
            reconcile_seconds=config.reconcile_seconds,
        )
        self._run("deployment-controller", DeploymentController(self._client("kcm")).run)
        self._run("kube-scheduler", Scheduler(self._client("kube-scheduler")).run)
        self._run("kubelet", kubelet.run)
        self._run("argocd-application-controller", argocd.run)
        self._run("applicationset-controller", ApplicationSetController(self._client("appset")).run)
        status = SandboxStatus(
            running=True,
            state_dir=str(state.path),
            kubeconfig=str(state.kubeconfig),
            server=server.url,
            secure_server=server.secure_url,
            certificate_authority=str(ca_path),
            argocd_server=argocd_server.url,
            argocd_secure_server=argocd_server.secure_url,
            registry=self.registry,
            docker_host=docker_host,
            pid=os.getpid(),
            children=self.children.report(),
        )
        state.write_status(status)
        self.status = status
        self.children.on_change = self._report_children
        self._run("child-supervisor", self.children.run)
        return status

    def _report_children(self) -> None:
        """Rewrite status.json with the children's health (what `sandbox status` shows)."""
        if self.status is not None:
            self.status.children = self.children.report()
            self.state.write_status(self.status)

    def _client(self, agent: str) -> KubeClient:
        assert self.server is not None
        return KubeClient(self.server.url, user_agent=agent)

    def _run(self, name: str, target: Callable[[threading.Event], None]) -> None:
        thread = threading.Thread(target=target, args=(self.stop_event,), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._stack.close()
        self.state.status_file.unlink(missing_ok=True)


def _wait_port_free(port: int, stop: threading.Event, timeout: float = 15.0) -> None:
    """Wait (bounded) until nothing accepts connections on 127.0.0.1:``port``: the registry
    of a daemon killed a moment ago gets SIGTERM from PR_SET_PDEATHSIG and exits shortly."""
    deadline = time.monotonic() + timeout
    while port_open("127.0.0.1", port) and time.monotonic() < deadline:
        if stop.wait(0.1):  # polling a port: no event says when another process let go
            return


def _registry_answers(handle: Handle) -> bool:
    assert isinstance(handle, Registry)
    try:
        response = requests.get(f"{handle.url}/v2/", timeout=2)
    except requests.RequestException:
        return False
    return response.status_code in (200, 401)


def _running(handle: Handle) -> bool:
    """dockerd: its process is watched; probing the engine each second would cost a curl."""
    return isinstance(handle, DockerEngine)


def serving_certificate(directory: Path) -> tuple[KeyPair, Path]:
    """The API server's TLS certificate for 127.0.0.1 and its CA, made once per state dir."""
    pair = KeyPair(cert_path=directory / "server.crt", key_path=directory / "server.key")
    ca_path = directory / "ca.crt"
    if not (pair.cert_path.exists() and pair.key_path.exists() and ca_path.exists()):
        ca = create_ca(directory, common_name="pipeline sandbox API server CA")
        pair = issue_server_cert(ca, directory)
        ca_path = ca.cert_path
    return pair, ca_path


def serve(state_dir: Path, config: SandboxConfig) -> None:
    """Run until SIGTERM/SIGINT; called in the detached daemon process."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
    )
    state = StateDir(state_dir)
    state.pid_file.write_text(str(os.getpid()))
    sandbox = Sandbox(state, config)
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        status = sandbox.start()
        log.info("sandbox up: %s", status.as_dict())
        done.wait()
    finally:
        sandbox.stop()
        state.pid_file.unlink(missing_ok=True)
        log.info("sandbox stopped")
