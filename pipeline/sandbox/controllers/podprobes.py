"""The probes of one running container instance, and what they decide (``prober_manager.go``).

``ContainerProbes.check`` runs the probes that are due, records the kubelet's events
(``Unhealthy``: ``Readiness probe failed: HTTP probe failed with statuscode: 503``; one per
failed attempt, aggregated by the recorder) and answers: is the container started, is it
ready, must it be killed (liveness or startup failure past ``failureThreshold``: the message
``Container app failed liveness probe``), and when to look again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.sandbox.controllers.prober import SUCCESS, ProbeState, ProbeTarget, run_probe

Obj = dict[str, Any]
_KINDS = (
    ("Startup", "startupProbe"),
    ("Liveness", "livenessProbe"),
    ("Readiness", "readinessProbe"),
)
EventFn = Callable[[str, str, str], None]  # (type, reason, message)


@dataclass
class Verdict:
    started: bool
    ready: bool
    kill: str  # "" or the reason the container must be restarted
    delay: float | None  # seconds until a probe is due again


class ContainerProbes:
    def __init__(self, container: Obj, started_at: float) -> None:
        self.name = str(container["name"])
        self.states = {
            kind: ProbeState(kind, container[field], started_at)
            for kind, field in _KINDS
            if isinstance(container.get(field), dict)
        }
        self.ports = {
            str(p["name"]): int(p["containerPort"])
            for p in container.get("ports") or []
            if p.get("name") and p.get("containerPort")
        }

    def __bool__(self) -> bool:
        return bool(self.states)

    def grace(self, kind: str, pod_grace: float) -> float:
        """``probe.terminationGracePeriodSeconds`` overrides the pod's for a probe kill."""
        state = self.states.get(kind)
        value = state.spec.get("terminationGracePeriodSeconds") if state else None
        return float(pod_grace if value is None else value)

    def _run(self, state: ProbeState, target: ProbeTarget, now: float, event: EventFn) -> bool:
        """Run ``state`` if due; True when the result changed to failure (kill for liveness)."""
        if not state.due(now):
            return False
        outcome, message = run_probe(state.spec, target)
        if outcome != SUCCESS:
            event("Warning", "Unhealthy", f"{state.kind} probe failed: {message}")
        changed = state.record(outcome, now)
        return changed and outcome != SUCCESS

    def check(self, target: ProbeTarget, now: float, event: EventFn) -> Verdict:
        startup = self.states.get("Startup")
        if startup is not None and startup.result is not SUCCESS:
            if self._run(startup, target, now, event):
                return Verdict(False, False, f"Container {self.name} failed startup probe", None)
            if startup.result is not SUCCESS:
                return Verdict(False, False, "", max(startup.next_due - now, 0.01))
            now_after = now
            for state in self.states.values():  # the others start counting from here
                if state is not startup:
                    state.next_due = max(state.next_due, now_after)
        liveness = self.states.get("Liveness")
        if liveness is not None and self._run(liveness, target, now, event):
            return Verdict(True, False, f"Container {self.name} failed liveness probe", None)
        readiness = self.states.get("Readiness")
        if readiness is not None:
            self._run(readiness, target, now, event)
        ready = readiness is None or readiness.result is SUCCESS
        dues = [s.next_due for s in self.states.values() if s is not startup]
        delay = max(min(dues) - now, 0.01) if dues else None
        return Verdict(True, ready, "", delay)
