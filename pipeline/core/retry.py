"""A bound on read-decide-write loops that retry on 409 Conflict.

Every write to an Application carries the resourceVersion it read; a 409 means someone wrote in
between, so the caller re-reads, decides again and writes again. That loop ends: after
``limit`` conflicts (KubeAccessError ``write-conflict``: something rewrites the object without
pause) or at the deadline (DeployTimeoutError), whichever comes first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.errors import DeployTimeoutError, KubeAccessError

MAX_CONFLICTS = 10
HINT = "another controller keeps rewriting it; see docs/deploy-canary.md troubleshooting"


@dataclass
class ConflictRetries:
    """``conflict()`` after each 409: raises once the limit or the deadline is reached."""

    target: str  # "Application dev-api-auth"
    writing: str  # "the pin"
    deadline: float
    clock: Callable[[], float]
    limit: int = MAX_CONFLICTS
    conflicts: int = 0

    def conflict(self) -> None:
        self.conflicts += 1
        if self.conflicts >= self.limit:
            raise KubeAccessError(
                f"{self.target} changed {self.conflicts} times while we wrote {self.writing}",
                hint=HINT,
                reason="write-conflict",
            )
        if self.clock() >= self.deadline:
            raise DeployTimeoutError(
                f"timed out writing {self.writing} to {self.target}: it changed under us "
                f"{self.conflicts} time(s)",
                hint=f"raise --timeout; {HINT}",
            )
