"""The sandbox state directory: what lives where, and the small JSON files in it.

<state-dir>/
  config.json     ports and endpoints chosen on the first `up`, reused on every restart so
                  image references (127.0.0.1:PORT/...) and kubeconfigs stay valid
  status.json     written by the running daemon once everything answers; removed on exit
  daemon.pid      the daemon's pid
  daemon.log      its log
  kubeconfig      for kubectl and the Python client
  store.json      the API server's objects (survives restarts), compacted every 5 s from
  store.json.journal.<n>   the writes since, each fsynced before it was acknowledged
  registry/       the Distribution registry's config and blobs (when the sandbox runs one)
  docker/         a private dockerd (when no engine was reachable)
  argocd/         the Argo CD controller's checkouts and renders
  argocd-server/  the Argo CD API server's renders (for /manifests)
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pipeline" / "sandbox"


@dataclass
class SandboxConfig:
    """Chosen once, kept for restarts."""

    api_port: int
    secure_port: int = 0  # the HTTPS listener, where bearer tokens (and so RBAC) apply
    registry: str | None = None  # host:port of an external registry, or None to run our own
    registry_port: int = 0
    docker_host: str | None = None  # an external engine, or None to find/start one
    docker: bool = True  # False: kubelet resolves images only, runs no containers
    registry_ca: str | None = None  # a CA bundle the kubelet trusts for TLS registries
    kubelet_backoff: float = 10.0
    max_pods: int = 110  # pods the sandbox node takes (kubelet --max-pods)
    watch_window: float = 300.0  # seconds a resourceVersion stays watchable (then 410)
    reconcile_seconds: float = 120.0
    argocd_port: int = 0  # the Argo CD API server (argocd-server's REST API), HTTP
    argocd_secure_port: int = 0  # the same over HTTPS (certificate from the sandbox CA)


@dataclass
class SandboxStatus:
    """What `sandbox status --output json` prints (documented in docs/sandbox.md)."""

    running: bool
    state_dir: str
    kubeconfig: str | None = None
    server: str | None = None
    secure_server: str | None = None  # HTTPS; ServiceAccount tokens are honoured here
    certificate_authority: str | None = None  # the CA of secure_server's certificate
    registry: str | None = None
    docker_host: str | None = None
    pid: int | None = None
    argocd_server: str | None = None  # the Argo CD API server (HTTP)
    argocd_secure_server: str | None = None  # the same over HTTPS (certificate_authority)
    argocd_token: str | None = None  # an admin session token; only `sandbox status` fills it
    # supervised child processes: {"registry": {"pid": 12, "healthy": true, "restarts": 1}}
    children: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().resolve()

    config_file = property(lambda self: self.path / "config.json")
    status_file = property(lambda self: self.path / "status.json")
    pid_file = property(lambda self: self.path / "daemon.pid")
    log_file = property(lambda self: self.path / "daemon.log")
    kubeconfig = property(lambda self: self.path / "kubeconfig")
    store_file = property(lambda self: self.path / "store.json")

    def read_config(self) -> SandboxConfig | None:
        data = _read_json(self.config_file)
        return SandboxConfig(**data) if data else None

    def write_config(self, config: SandboxConfig) -> None:
        _write_json(self.config_file, asdict(config))

    def read_status(self) -> dict[str, Any] | None:
        return _read_json(self.status_file)

    def write_status(self, status: SandboxStatus) -> None:
        _write_json(self.status_file, status.as_dict())

    def read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def write_kubeconfig(path: Path, server: str, *, context: str = "pipeline-sandbox") -> None:
    """A kubeconfig that kubectl and the Python client both accept (plain HTTP on loopback)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "users": [{"name": context, "user": {}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": context, "user": context, "namespace": "default"},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
