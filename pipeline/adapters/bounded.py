"""Subprocesses (git, ``kubectl kustomize``) bounded by their own limit and by the run's one
deadline (kubefail.py ``Deadline``), whichever comes first.

At the bound the subprocess is killed with everything it started (git runs ``git-remote-http``
or ssh, kustomize runs git for remote bases): the tree is found in ``/proc``, frozen with
SIGSTOP (a stopped process starts nothing new) and then killed. The children stay in our
process group on purpose: a terminal's Ctrl-C goes to the foreground group, so it still stops
them, and the CLI ends with ``os._exit`` after a signal, which would leave a separate group
running.

A run's deadline reached gives DeployTimeoutError (exit 11), as every Kubernetes and registry
request does; the subprocess's own limit reached gives ``subprocess.TimeoutExpired`` for the
caller to name (SourceUnavailable).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.errors import DeployTimeoutError


class RunDeadline(Protocol):
    """What a bound needs of the run's deadline (kubefail.py ``Deadline``)."""

    def remaining(self) -> float | None: ...

    def expired(self, what: str, *, waiting_on: str = "", hint: str = "") -> DeployTimeoutError: ...


def _children() -> dict[int, list[int]]:
    """Every process's children, from ``/proc/<pid>/stat`` (empty where there is no /proc)."""
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(pid: int) -> set[int]:
    children, found, queue = _children(), {pid}, [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and all its descendants, stopping them first so none escapes by
    starting a new one while they are collected."""
    seen: set[int] = set()
    while True:
        new = _tree(pid) - seen
        if not new:
            break
        for each in new:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(each, signal.SIGSTOP)
        seen |= new
    for each in seen | {pid}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(each, signal.SIGKILL)


@dataclass(frozen=True)
class Bound:
    """``seconds`` for one subprocess, cut short by the run's ``deadline`` (None: no run
    deadline). ``waiting_on`` and ``hint`` name the subprocess in the deadline's error."""

    seconds: float
    deadline: RunDeadline | None = None

    def timeout(self, what: str, waiting_on: str, hint: str = "") -> tuple[float, bool]:
        """(seconds to allow, whether the run's deadline is what limits them); raises
        DeployTimeoutError when the deadline has passed already."""
        left = self.deadline.remaining() if self.deadline is not None else None
        if left is None or left >= self.seconds:
            return self.seconds, False
        if left <= 0:
            assert self.deadline is not None
            raise self.deadline.expired(what, waiting_on=waiting_on, hint=hint)
        return left, True

    def run(
        self,
        command: Sequence[str],
        *,
        what: str,
        waiting_on: str,
        hint: str = "",
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` to the end, its output captured; at the bound, kill its tree and
        raise (DeployTimeoutError at the run's deadline, else ``subprocess.TimeoutExpired``)."""
        timeout, by_deadline = self.timeout(what, waiting_on, hint)
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=dict(env) if env is not None else None,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _stop(proc)
            if by_deadline:
                assert self.deadline is not None
                raise self.deadline.expired(what, waiting_on=waiting_on, hint=hint) from None
            raise
        except BaseException:
            _stop(proc)
            raise
        return subprocess.CompletedProcess(list(command), proc.returncode, out, err)

    @contextlib.contextmanager
    def watching(
        self, proc: subprocess.Popen[bytes], *, what: str, waiting_on: str, hint: str = ""
    ) -> Iterator[None]:
        """For a subprocess whose output the caller streams: kill its tree at the bound, and
        raise as :meth:`run` does once the caller's body is done."""
        timeout, by_deadline = self.timeout(what, waiting_on, hint)
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            kill_tree(proc.pid)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except Exception:
            if not fired.is_set():
                raise
        finally:
            timer.cancel()
        if fired.is_set():
            if by_deadline:
                assert self.deadline is not None
                raise self.deadline.expired(what, waiting_on=waiting_on, hint=hint)
            raise subprocess.TimeoutExpired(proc.args, timeout)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc``'s tree, reap it and close its pipes."""
    kill_tree(proc.pid)
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a descendant outside the tree holds a pipe open
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
