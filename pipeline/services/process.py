"""Start and stop the local helper processes (registry, dockerd) the sandbox and tests use.

Children get PR_SET_PDEATHSIG so that a killed parent (the sandbox daemon, a test run) does not
leave them behind; every process binds loopback only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.errors import SandboxError, truncate

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (for servers that need a fixed port in config)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spawn(
    argv: Sequence[str],
    log_file: Path,
    *,
    env: dict[str, str] | None = None,
    tie_to_parent: bool = True,
) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent if tie_to_parent else None,
            start_new_session=not tie_to_parent,
        )


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log_file: Path | None = None,
) -> None:
    """Poll ``check`` until true; fail with the process log when it exits or time runs out."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise SandboxError(
                f"{what} exited with code {proc.returncode} while starting",
                hint=_log_tail(log_file),
            )
        time.sleep(delay)  # polling an external process that offers no event to wait on
        delay = min(delay * 2, 0.25)
    raise SandboxError(
        f"{what} did not become ready within {timeout:.0f}s", hint=_log_tail(log_file)
    )


def _log_tail(log_file: Path | None) -> str:
    if log_file is None or not log_file.exists():
        return ""
    return "last log lines:\n" + truncate(log_file.read_text(errors="replace")[-3000:])


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_pid(pid: int, timeout: float = 10) -> None:
    """Stop a process we started in an earlier invocation (from a pid file)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.05)  # waiting for a foreign process to exit: no event exists
        os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def command_line(pid: int) -> list[str]:
    """The argv of a running process (empty when it is gone, a zombie, or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pid_runs(pid: int, *argv_parts: str) -> bool:
    """True when ``pid`` is alive and its argv contains every one of ``argv_parts``: a pid file
    left by a killed process may name a pid the system has since given to another one."""
    if not pid_alive(pid):
        return False
    argv = command_line(pid)
    return bool(argv) and all(part in argv for part in argv_parts)
