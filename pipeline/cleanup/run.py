"""Run `cleanup-canary` for one service: unpin, sync, confirm. Only ports are touched.

1. Read the Application; a PR that never deployed (nothing of ours there), or one cleaned
   already, ends ``nothing-to-clean`` without writing. A pin owned by another PR is left alone.
2. Write the decision of plan.py with the resourceVersion read; 409 re-reads and decides again
   (at most MAX_CONFLICTS times, within the deadline: core/retry.py).
3. Request a sync the way deploy-canary does (pipeline/core/sync.py, Argo CD
   ``SetAppOperation``) and follow it to Succeeded.
4. Confirm: the canary Deployment's pod template no longer carries the digest we pinned, and
   its rollout is complete (kubectl ``rollout status`` rule, reference F.3: observedGeneration
   caught up, updated == replicas == available), watched with core/watch.py.

The outcome is a CleanupOutcome, decided where it happens; the report's strings derive from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline.cleanup.plan import CleanupWrite, pinned_by_pr, plan_cleanup
from pipeline.core.events import Emit, Note
from pipeline.core.plan import ServicePlan
from pipeline.core.ports import Applications, Cluster, Conflict, NotFound, Obj
from pipeline.core.retry import ConflictRetries
from pipeline.core.rollout import canary_deployments, template_images
from pipeline.core.sync import follow_sync, request_sync
from pipeline.core.watch import ObjectsSource, wait_for
from pipeline.errors import DeployTimeoutError, PipelineError

Clock = Callable[[], float]


class CleanupOutcome(Enum):
    """What cleanup did for one service. The report keeps its two strings (``result``,
    ``reason``): both ``cleaned`` outcomes are ``unpinned``, both ``nothing-to-clean`` ones
    ``not-pinned``, and a failure's reason is its error's."""

    UNPINNED = "unpinned"  # our entries removed, nothing to put back
    RESTORED = "restored"  # our entries removed and the entries they replaced put back
    NOT_PINNED = "not-pinned"  # no pin of ours on the Application (never deployed, or cleaned)
    NO_APPLICATION = "no-application"  # the Application does not exist
    PINNED_BY_OTHER_PR = "pinned-by-other-pr"  # another PR's pin: left in place
    FAILED = "failed"

    @property
    def result(self) -> str:
        return _REPORTED[self][0]

    @property
    def reason(self) -> str:
        return _REPORTED[self][1]


_REPORTED = {
    CleanupOutcome.UNPINNED: ("cleaned", "unpinned"),
    CleanupOutcome.RESTORED: ("cleaned", "unpinned"),
    CleanupOutcome.NOT_PINNED: ("nothing-to-clean", "not-pinned"),
    CleanupOutcome.NO_APPLICATION: ("nothing-to-clean", "not-pinned"),
    CleanupOutcome.PINNED_BY_OTHER_PR: ("skipped", "pinned-by-other-pr"),
    CleanupOutcome.FAILED: ("failed", ""),
}


@dataclass
class CleanupResult:
    """One service's outcome; ``result`` is ``cleaned``, ``nothing-to-clean``, ``skipped`` or
    ``failed`` (docs/json-schema.md)."""

    service: str
    application: str
    outcome: CleanupOutcome = CleanupOutcome.FAILED
    error_reason: str = ""  # the error's reason when FAILED
    exit_code: int = 0
    message: str = ""
    hint: str = ""
    digest: str = ""
    removed: list[Any] = field(default_factory=list)
    restored: list[Any] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # canary template images afterwards

    @property
    def result(self) -> str:
        return self.outcome.result

    @property
    def reason(self) -> str:
        return self.error_reason if self.outcome is CleanupOutcome.FAILED else self.outcome.reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "application": self.application,
            "result": self.result,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "message": self.message,
            "hint": self.hint,
            "digest": self.digest,
            "removed": self.removed,
            "restored": self.restored,
            "images": self.images,
        }


@dataclass(frozen=True)
class _Unpin:
    outcome: CleanupOutcome
    decision: CleanupWrite | None = None
    message: str = ""  # why nothing was written


def canary_names(cluster: Cluster, plan: ServicePlan) -> set[str] | None:
    """The canary Deployments (by the canary selector) whose patch entries are ours to
    remove; None when the namespace is gone (then any patch pinning our repository is)."""
    try:
        items, _ = cluster.list_objects("deployments", plan.namespace)
    except NotFound:
        return None
    return {str(d["metadata"]["name"]) for d in canary_deployments(items, plan.selector)}


def _unpin(
    apps: Applications, cluster: Cluster, plan: ServicePlan, pr: str, deadline: float,
    clock: Clock,
) -> _Unpin:  # fmt: skip
    """Write the cleanup; a 409 re-reads and decides again, within MAX_CONFLICTS and the
    deadline."""
    retries = ConflictRetries(f"Application {plan.app}", "the cleanup", deadline, clock)
    canaries = canary_names(cluster, plan)
    while True:
        try:
            app = apps.get_application(plan.argocd_namespace, plan.app)
        except NotFound:
            return _Unpin(
                CleanupOutcome.NO_APPLICATION,
                message=f"Application {plan.argocd_namespace}/{plan.app} does not exist",
            )
        owner = pinned_by_pr(app)
        if pr and owner and owner != pr:
            return _Unpin(
                CleanupOutcome.PINNED_BY_OTHER_PR,
                message=f"the canary is pinned by PR #{owner}, not #{pr}: left in place",
            )
        decision = plan_cleanup(app, plan.repository, plan.tags[0], canaries)
        if decision is None:
            return _Unpin(CleanupOutcome.NOT_PINNED, message=f"no pin of ours on {plan.app}")
        try:
            apps.patch_application(plan.argocd_namespace, plan.app, decision.body)
        except Conflict:
            retries.conflict()
            continue
        done = CleanupOutcome.RESTORED if decision.restored else CleanupOutcome.UNPINNED
        return _Unpin(done, decision)


def wait_unpinned(
    cluster: Cluster, plan: ServicePlan, digest: str, deadline: float, clock: Clock
) -> dict[str, str]:
    """Watch the canary Deployment until its template lacks ``digest`` and it rolled out."""

    def done(deployments: dict[str, Obj]) -> bool:
        canaries = canary_deployments(list(deployments.values()), plan.selector)
        return bool(canaries) and all(_settled(d, digest) for d in canaries)

    def timed_out(deployments: dict[str, Obj]) -> DeployTimeoutError:
        return DeployTimeoutError(
            f"the canary Deployment in {plan.namespace} still runs {digest or 'our pin'}",
            hint=f"kubectl get deployment -n {plan.namespace} -o wide; "
            f"kubectl get application -n {plan.argocd_namespace} {plan.app} -o yaml",
        )

    source = ObjectsSource(cluster, "deployments", plan.namespace)
    current = wait_for(source, done, deadline=deadline, clock=clock, on_timeout=timed_out)
    images: dict[str, str] = {}
    for d in canary_deployments(list(current.values()), plan.selector):
        images.update(template_images(d))
    return images


def _settled(deployment: Obj, digest: str) -> bool:
    if digest and any(digest in image for image in template_images(deployment).values()):
        return False
    meta, spec, status = (
        deployment["metadata"],
        deployment.get("spec", {}),
        deployment.get("status", {}),
    )
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= meta.get("generation", 0)
        and status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
    )


def cleanup_service(
    plan: ServicePlan,
    apps: Applications,
    cluster: Cluster,
    *,
    pr: str,
    emit: Emit,
    clock: Clock = time.monotonic,
) -> CleanupResult:
    result = CleanupResult(plan.service, f"{plan.argocd_namespace}/{plan.app}")
    deadline = clock() + plan.timeout
    try:
        unpin = _unpin(apps, cluster, plan, pr, deadline, clock)
        decision = unpin.decision
        if decision is None:
            emit(Note(plan.service, unpin.message))
            result.outcome, result.message = unpin.outcome, unpin.message
            return result
        result.digest, result.removed, result.restored = (
            decision.digest, decision.removed, decision.restored,
        )  # fmt: skip
        emit(Note(plan.service, f"removed {len(decision.removed)} pin entr(y/ies) from {plan.app}"))
        deployment = decision.deployments[0] if len(decision.deployments) == 1 else None
        request_sync(
            apps, plan, "", deployment,
            terminate_running=False, deadline=deadline, clock=clock, emit=emit,
        )  # fmt: skip
        follow_sync(apps, plan, "", deadline=deadline, clock=clock)
        emit(Note(plan.service, f"sync of {plan.app} succeeded; confirming the canary"))
        result.images = wait_unpinned(cluster, plan, decision.digest, deadline, clock)
    except PipelineError as e:
        result.outcome, result.error_reason, result.exit_code = (
            CleanupOutcome.FAILED, e.reason, int(e.exit_code),
        )  # fmt: skip
        result.message, result.hint = e.message, e.hint
        return result
    result.outcome = unpin.outcome
    return result
