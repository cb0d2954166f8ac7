"""Run a command's work so that Ctrl-C and SIGTERM stop it at once.

The work runs in a daemon thread; the main thread only waits for it, so a signal's
``KeyboardInterrupt`` (``Terminated`` for SIGTERM, installed by pipeline/cli.py) reaches the
command immediately, even while the core waits on watches in its own threads. The command then
reports what was done and returns 130 / 143; the CLI ends the process without waiting for the
abandoned threads (nothing they would still do is needed: every write is one atomic request).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from pipeline.errors import ExitCode, Interrupted, Terminated

T = TypeVar("T")


def run_interruptibly(work: Callable[[], T], name: str = "command") -> T:
    """``work()``'s value or exception; ``KeyboardInterrupt`` when a signal came first."""
    box: dict[str, T] = {}
    failure: list[BaseException] = []
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as e:
            failure.append(e)
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    done.wait()  # interruptible: a signal's exception is raised here at once (POSIX)
    if failure:
        raise failure[0]
    return box["value"]


def signal_name(interrupt: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"


def interrupt_code(interrupt: KeyboardInterrupt) -> ExitCode:
    return ExitCode.TERMINATED if isinstance(interrupt, Terminated) else ExitCode.INTERRUPTED


def interrupted(interrupt: KeyboardInterrupt, done: str, hint: str = "") -> Interrupted:
    """The error the CLI prints after a command stopped on a signal; ``done``: what it did."""
    name = signal_name(interrupt)
    return Interrupted(f"interrupted by {name}: {done}", signal_name=name, hint=hint)
