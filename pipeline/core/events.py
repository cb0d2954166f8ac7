"""Typed events the deploy core emits, and the per-service result it ends with.

The core never prints: reporters (pipeline/report/) render these as text, JSON or GitHub
outputs. Reporters are passed in; several services emit concurrently, so a reporter must be
thread-safe (``Emit`` callables here are wrapped by report.base.Reporter with a lock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.rollout import PodObservation
from pipeline.errors import ExitCode

STEPS = ("build", "resolve", "preflight", "pin", "sync", "verify")


@dataclass(frozen=True)
class StepStarted:
    service: str
    step: str


@dataclass(frozen=True)
class StepFinished:
    service: str
    step: str
    seconds: float
    detail: str = ""
    ok: bool = True


@dataclass(frozen=True)
class Note:
    """Something a user should know (which builder runs and why, waiting for an operation)."""

    service: str
    message: str


@dataclass(frozen=True)
class PodObserved:
    service: str
    pod: PodObservation


@dataclass
class ServiceResult:
    """The outcome of one service: the JSON report's ``services[]`` item (docs/json-schema.md)."""

    service: str
    image: str = ""
    digest: str = ""
    application: str = ""
    namespace: str = ""
    selector: str = ""
    pods: list[PodObservation] = field(default_factory=list)
    result: str = "failed"  # "succeeded" | "failed" | "planned" (dry-run)
    reason: str = ""
    exit_code: int = int(ExitCode.INTERNAL)
    message: str = ""
    hint: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # per step; steps may overlap
    elapsed: float = 0.0  # wall time of the whole service, start to finish
    problems: list[dict[str, str]] = field(default_factory=list)
    logs: str = ""
    events: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)  # {"rendered": bool, "note": str}
    replaced_pr: str = ""  # the PR whose canary this run's pin replaced (deploy/races.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "image": self.image,
            "digest": self.digest,
            "application": self.application,
            "namespace": self.namespace,
            "selector": self.selector,
            "pods": [p.as_dict() for p in self.pods],
            "result": self.result,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "message": self.message,
            "hint": self.hint,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "elapsed_seconds": round(self.elapsed, 3),
            "problems": self.problems,
            "diagnostics": {"logs": self.logs, "events": self.events},
            "plan": self.plan,
            "source": self.source,
            "replaced_pr": self.replaced_pr,
        }


@dataclass(frozen=True)
class ServiceFinished:
    result: ServiceResult


Event = StepStarted | StepFinished | Note | PodObserved | ServiceFinished
Emit = Callable[[Event], None]
