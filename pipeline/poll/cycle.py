"""One poll cycle: list, read, ask the registries (deduplicated rounds), decide, update.

    list Applications ─► read annotations + pins ─► round 1: HEAD (digest) / tag lists
      ─► round 2: image configs (newest-build only) ─► decide ─► round 3: HEAD of chosen tags
      ─► updates (unless --dry-run): pin, sync, verify as deploy-canary, Applications in
         parallel, the aliases of one Application one after another (one .operation at a time)

A bad annotation, a registry error or a failed update is reported for its Application or
alias; the cycle always finishes and reports every Application.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.events import Emit, ServiceResult
from pipeline.core.ports import Dependencies, Registries
from pipeline.deploy.orchestrate import worst_exit_code
from pipeline.errors import ExitCode
from pipeline.poll.decide import AliasDecision, decide, digest_queries, with_digest
from pipeline.poll.execute import CycleDigests, UpdateRun, apply_update
from pipeline.poll.fetch import Answers, fetch
from pipeline.poll.plan import AliasTarget, first_round, metadata_round
from pipeline.poll.targets import AppEntry, DeploymentsOf, read_applications

Obj = dict[str, Any]


@dataclass(frozen=True)
class PollSettings:
    namespace: str = "argocd"  # where the Applications live
    selector: str = ""  # label selector of the Applications to poll
    dry_run: bool = False
    registry_workers: int = 10
    update_workers: int = 4
    run: UpdateRun = field(default_factory=lambda: UpdateRun(run_id="poll"))


@dataclass
class CycleDeps:
    list_applications: Callable[[str, str], list[Obj]]
    deployments_of: DeploymentsOf
    pool: Registries
    deploy: Callable[[CycleDigests], Dependencies]  # deploy-canary's dependencies per alias


@dataclass
class AliasOutcome:
    decision: AliasDecision
    result: str  # up-to-date | planned | updated | failed | error
    deploy: ServiceResult | None = None

    @property
    def exit_code(self) -> int:
        if self.deploy is not None:
            return self.deploy.exit_code
        error = self.decision.error
        return int(error.exit_code) if error is not None else 0

    def as_dict(self) -> dict[str, Any]:
        out = {**self.decision.as_dict(), "result": self.result}
        if self.deploy is not None:
            out["deploy"] = {
                k: v
                for k, v in self.deploy.as_dict().items()
                if k in ("result", "reason", "exit_code", "message", "hint", "digest", "pods",
                         "timings", "problems")
            }  # fmt: skip
        return out


@dataclass
class CycleReport:
    dry_run: bool
    apps: list[AppEntry]
    outcomes: dict[str, list[AliasOutcome]]
    pool: Registries
    unique_queries: int = 0

    @property
    def exit_code(self) -> int:
        codes = [int(e.error.exit_code) for e in self.apps if e.error is not None]
        codes += [int(err.exit_code) for e in self.apps for err in e.alias_errors.values()]
        codes += [o.exit_code for outs in self.outcomes.values() for o in outs]
        return worst_exit_code([ServiceResult("", exit_code=c) for c in codes]) if codes else 0

    def updated(self) -> list[str]:
        return sorted(
            f"{app}:{o.decision.alias}"
            for app, outs in self.outcomes.items()
            for o in outs
            if o.result == "updated"
        )

    def as_dict(self) -> dict[str, Any]:
        throttled, waited = self.pool.throttled()
        apps = []
        for entry in self.apps:
            aliases = [o.as_dict() for o in self.outcomes.get(entry.id, [])]
            aliases += [
                {"alias": alias, "result": "error", "update": False,
                 "error": {"reason": err.reason, "exit_code": int(err.exit_code),
                           "message": err.message, "hint": err.hint}}
                for alias, err in entry.alias_errors.items()
            ]  # fmt: skip
            error = entry.error
            apps.append({
                "application": entry.id,
                "error": None if error is None else {
                    "reason": error.reason, "exit_code": int(error.exit_code),
                    "message": error.message, "hint": error.hint,
                },
                "aliases": aliases,
            })  # fmt: skip
        return {
            "schema_version": 1,
            "dry_run": self.dry_run,
            "exit_code": self.exit_code,
            "updated": self.updated(),
            "applications": apps,
            "registry": {
                "requests": {f"{m} {k}": n for (m, k), n in sorted(self.pool.requests().items())},
                "unique_queries": self.unique_queries,
                "throttled": throttled,
                "waited_seconds": round(waited, 3),
                "rate_limits": {
                    host: {"limit": r.limit, "remaining": r.remaining, "window": r.window_seconds}
                    for host, r in self.pool.rate_limits().items()
                },
            },
        }


def _outcome(decision: AliasDecision, dry_run: bool) -> AliasOutcome:
    if decision.error is not None:
        return AliasOutcome(decision, "error")
    if not decision.update:
        return AliasOutcome(decision, "up-to-date")
    return AliasOutcome(decision, "planned" if dry_run else "pending")


def run_cycle(settings: PollSettings, deps: CycleDeps, emit: Emit) -> CycleReport:
    apps = deps.list_applications(settings.namespace, settings.selector)
    entries = read_applications(apps, deps.deployments_of)
    targets: dict[tuple[str, str], AliasTarget] = {
        (t.app, t.config.alias): t for e in entries for t in e.targets
    }
    answers = Answers()
    queries = first_round(targets.values())
    fetch(queries, deps.pool, answers, settings.registry_workers)
    metadata = metadata_round(targets.values(), answers.tags)
    fetch(metadata, deps.pool, answers, settings.registry_workers)
    decisions = [decide(t, answers) for t in targets.values()]
    digests = digest_queries(targets, decisions)
    fetch(digests, deps.pool, answers, settings.registry_workers)
    decisions = [with_digest(targets[(d.app, d.alias)], d, answers) for d in decisions]
    outcomes: dict[str, list[AliasOutcome]] = {}
    for decision in decisions:
        outcomes.setdefault(decision.app, []).append(_outcome(decision, settings.dry_run))
    report = CycleReport(
        settings.dry_run, entries, outcomes, deps.pool, len(queries | metadata | digests)
    )
    if not settings.dry_run:
        _apply(settings, deps, entries, outcomes, set(answers.digests.values()), emit)
    return report


def _apply(
    settings: PollSettings,
    deps: CycleDeps,
    entries: list[AppEntry],
    outcomes: dict[str, list[AliasOutcome]],
    known_digests: set[str],
    emit: Emit,
) -> None:
    by_id = {e.id: e for e in entries}
    lock = threading.Lock()

    def deployments_of(namespace: str) -> list[Obj]:
        with lock:
            return deps.deployments_of(namespace)

    def update_app(app: str) -> None:
        entry = by_id[app]
        for outcome in outcomes[app]:
            if outcome.result != "pending":
                continue
            config = entry.config.image(outcome.decision.alias) if entry.config else None
            client = deps.pool.client(config.pull_secret if config else None)
            result = apply_update(
                entry, outcome.decision,
                deps=deps.deploy(CycleDigests(known_digests, client)),
                deployments_of=deployments_of, run=settings.run, emit=emit,
            )  # fmt: skip
            outcome.deploy = result
            outcome.result = "updated" if result.exit_code == ExitCode.OK else "failed"

    due = [app for app, outs in outcomes.items() if any(o.result == "pending" for o in outs)]
    with ThreadPoolExecutor(max_workers=max(1, min(settings.update_workers, len(due) or 1))) as ex:
        list(ex.map(update_app, due))
