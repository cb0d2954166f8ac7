"""`sandbox up|down|status`: start the daemon in the background, find it, stop it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.errors import SandboxError, UsageError
from pipeline.sandbox.state import SandboxConfig, SandboxStatus, StateDir
from pipeline.services.process import free_port, pid_runs, stop_pid, wait_until

STARTUP_TIMEOUT = 90.0


def daemon_pid(state: StateDir) -> int | None:
    """The pid of the daemon serving ``state``, or None: a pid file whose process is gone, or
    now is some other program (pids are reused after a ``kill -9``), is stale."""
    pid = state.read_pid()
    if pid is None or not pid_runs(pid, "pipeline.sandbox", str(state.path)):
        return None
    return pid


def status(state: StateDir) -> SandboxStatus:
    pid = daemon_pid(state)
    recorded = state.read_status()
    if pid is None or recorded is None or recorded.get("pid") != pid:
        return SandboxStatus(running=False, state_dir=str(state.path))
    return SandboxStatus(
        **{k: v for k, v in recorded.items() if k in SandboxStatus.__annotations__}
    )


def up(
    state: StateDir,
    *,
    registry: str | None = None,
    docker_host: str | None = None,
    docker: bool = True,
    kubelet_backoff: float | None = None,
    registry_ca: Path | None = None,
    watch_window: float | None = None,
    max_pods: int | None = None,
) -> SandboxStatus:
    """Start the sandbox unless it already runs from this state dir (idempotent)."""
    current = status(state)
    if current.running:
        return current
    _clean_stale(state)
    config = state.read_config() or SandboxConfig(api_port=free_port())
    if registry is not None:
        config.registry = registry
    if docker_host is not None:
        config.docker_host = docker_host
    config.docker = docker
    if registry_ca is not None:
        if not registry_ca.is_file():
            raise UsageError(
                f"--registry-ca {registry_ca}: no such file",
                hint="name a PEM bundle with the CA that signed the registry's certificate",
            )
        config.registry_ca = str(registry_ca.resolve())
    if kubelet_backoff is not None:
        if kubelet_backoff <= 0:
            raise UsageError("--kubelet-backoff must be positive", hint="e.g. --kubelet-backoff 10")
        config.kubelet_backoff = kubelet_backoff
    if max_pods is not None:
        if max_pods <= 0:
            raise UsageError("--max-pods must be positive", hint="e.g. --max-pods 110")
        config.max_pods = max_pods
    if watch_window is not None:
        if not watch_window > 0:
            raise UsageError("--watch-window must be positive", hint="e.g. --watch-window 300")
        config.watch_window = watch_window
    state.path.mkdir(parents=True, exist_ok=True)
    state.write_config(config)
    with open(state.log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.sandbox", "--state-dir", str(state.path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    wait_until(
        lambda: status(state).running,
        timeout=STARTUP_TIMEOUT,
        what="sandbox daemon",
        proc=proc,
        log_file=state.log_file,
    )
    return status(state)


def down(state: StateDir) -> bool:
    """Stop the daemon (and with it everything it started). True when something was stopped."""
    pid = daemon_pid(state)
    stopped = False
    if pid is not None:
        stop_pid(pid, timeout=45)
        stopped = True
    _clean_stale(state)
    return stopped


def _clean_stale(state: StateDir) -> None:
    """After a crash: forget the dead daemon's pid and status files."""
    pid = daemon_pid(state)
    if pid is not None:
        raise SandboxError(
            f"a sandbox daemon (pid {pid}) still runs from {state.path}",
            hint=f"run: pipeline sandbox down --state-dir {state.path}",
        )
    state.pid_file.unlink(missing_ok=True)
    state.status_file.unlink(missing_ok=True)


def status_json(state: StateDir) -> str:
    return json.dumps(status(state).as_dict(), indent=2)


def resolve_state_dir(path: Path | None) -> StateDir:
    from pipeline.sandbox.state import default_state_dir

    return StateDir(path or default_state_dir())
