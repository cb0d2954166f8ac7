"""A real Docker Engine for builds and for the sandbox kubelet.

Uses the engine named by DOCKER_HOST or the default socket when one answers; otherwise starts
Debian's ``dockerd`` with its own socket, data-root and exec-root, ``--bridge=none
--iptables=false`` (no network setup on the host), so several can run side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import requests

from pipeline.errors import SandboxError
from pipeline.services.process import spawn, stop_process, wait_until

DEFAULT_SOCKET = "/var/run/docker.sock"


@dataclass
class DockerEngine:
    host: str  # DOCKER_HOST value, e.g. unix:///tmp/x/docker.sock
    started: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    root: Path | None = None

    def stop(self) -> None:
        if self.started:
            stop_process(self.proc, timeout=20)
            if self.root is not None:
                unmount_below(self.root)


def unmount_below(root: Path) -> None:
    """Lazily unmount what a dockerd that died uncleanly left mounted under ``root``
    (network namespaces, overlay layers), so its directory can be removed."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    targets = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def engine_answers(host: str) -> bool:
    """True when a Docker Engine answers ``/_ping`` on a ``unix://`` host."""
    if not host.startswith("unix://"):
        return False
    sock = host[len("unix://") :]
    if not Path(sock).exists():
        return False
    try:
        out = subprocess.run(
            ["curl", "-sf", "--max-time", "2", "--unix-socket", sock, "http://d/_ping"],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError:
        return _ping_with_requests(sock)
    return out.returncode == 0 and out.stdout == b"OK"


def _ping_with_requests(sock: str) -> bool:  # pragma: no cover - curl is normally present
    import docker

    try:
        return bool(docker.DockerClient(base_url=f"unix://{sock}", timeout=2).ping())
    except (docker.errors.DockerException, requests.RequestException):
        return False


def find_engine() -> str | None:
    """DOCKER_HOST, then the default socket: the first that answers."""
    for host in (os.environ.get("DOCKER_HOST", ""), f"unix://{DEFAULT_SOCKET}"):
        if host and engine_answers(host):
            return host
    return None


def start_dockerd(state_dir: Path, *, tie_to_parent: bool = True) -> DockerEngine:
    """Start a private dockerd under ``state_dir`` and wait until it answers."""
    binary = shutil.which("dockerd")
    if binary is None:
        raise SandboxError(
            "dockerd is not installed",
            hint="install Debian's docker.io (scripts/setup does) or set DOCKER_HOST",
        )
    root = state_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    argv = [
        binary,
        "--host", f"unix://{sock}",
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "dockerd.pid"),
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
    ]  # fmt: skip
    proc = spawn(argv, log, tie_to_parent=tie_to_parent)
    host = f"unix://{sock}"
    wait_until(lambda: engine_answers(host), timeout=60, what="dockerd", proc=proc, log_file=log)
    return DockerEngine(host=host, started=True, proc=proc, root=root)


def ensure_engine(state_dir: Path, *, tie_to_parent: bool = True) -> DockerEngine:
    """An engine that answers: an existing one, or one started under ``state_dir``."""
    existing = find_engine()
    if existing is not None:
        return DockerEngine(host=existing)
    return start_dockerd(state_dir, tie_to_parent=tie_to_parent)
