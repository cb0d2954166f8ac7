"""Run `cleanup-canary` for one service: unpin, sync, confirm. Only ports are touched.

1. Read the Application; a PR that never deployed (nothing of ours there), or one cleaned
   already, ends ``nothing-to-clean`` without writing. A pin owned by another PR is left alone.
2. Write the decision of plan.py with the resourceVersion read; 409 re-reads and decides again.
3. Request a sync the way deploy-canary does (pipeline/core/sync.py, Argo CD
   ``SetAppOperation``) and follow it to Succeeded.
4. Confirm: the canary Deployment's pod template no longer carries the digest we pinned, and
   its rollout is complete (kubectl ``rollout status`` rule, reference F.3: observedGeneration
   caught up, updated == replicas == available).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.cleanup.plan import CleanupWrite, pinned_by_pr, plan_cleanup
from pipeline.core.events import Emit, Note
from pipeline.core.plan import ServicePlan
from pipeline.core.ports import Applications, Cluster, Conflict, Expired, NotFound, Obj
from pipeline.core.rollout import canary_deployments, template_images
from pipeline.core.sync import follow_sync, request_sync
from pipeline.errors import DeployTimeoutError, PipelineError

Clock = Callable[[], float]


@dataclass
class CleanupResult:
    """One service's outcome: ``cleaned``, ``nothing-to-clean``, ``skipped`` or ``failed``."""

    service: str
    application: str
    result: str = "failed"
    reason: str = ""
    exit_code: int = 0
    message: str = ""
    hint: str = ""
    digest: str = ""
    removed: list[Any] = field(default_factory=list)
    restored: list[Any] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # canary template images afterwards

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


def _unpin(apps: Applications, plan: ServicePlan, pr: str) -> tuple[CleanupWrite | None, str]:
    """Write the cleanup; returns the decision and why nothing was written, if so."""
    while True:
        try:
            app = apps.get_application(plan.argocd_namespace, plan.app)
        except NotFound:
            return None, f"Application {plan.argocd_namespace}/{plan.app} does not exist"
        owner = pinned_by_pr(app)
        if pr and owner and owner != pr:
            return None, f"the canary is pinned by PR #{owner}, not #{pr}: left in place"
        decision = plan_cleanup(app, plan.repository, plan.tags[0])
        if decision is None:
            return None, f"no pin of ours on {plan.app}"
        try:
            apps.patch_application(plan.argocd_namespace, plan.app, decision.body)
        except Conflict:
            continue
        return decision, ""


def wait_unpinned(
    cluster: Cluster, plan: ServicePlan, digest: str, deadline: float, clock: Clock
) -> dict[str, str]:
    """Watch the canary Deployment until its template lacks ``digest`` and it rolled out."""

    def done(deployments: list[Obj]) -> bool:
        canaries = canary_deployments(deployments, plan.selector)
        return bool(canaries) and all(_settled(d, digest) for d in canaries)

    while True:
        items, version = cluster.list_objects("deployments", plan.namespace)
        current = {d["metadata"]["name"]: d for d in items}
        if done(list(current.values())):
            break
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeployTimeoutError(
                f"the canary Deployment in {plan.namespace} still runs {digest or 'our pin'}",
                hint=f"kubectl get deployment -n {plan.namespace} -o wide; "
                f"kubectl get application -n {plan.argocd_namespace} {plan.app} -o yaml",
            )
        try:
            for kind, obj in cluster.watch("deployments", plan.namespace, "", version, remaining):
                name = obj.get("metadata", {}).get("name")
                if kind == "DELETED":
                    current.pop(name, None)
                elif kind in ("ADDED", "MODIFIED"):
                    current[name] = obj
                if kind != "BOOKMARK" and done(list(current.values())):
                    break
        except Expired:
            continue
        if done(list(current.values())):
            break
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
        decision, why_not = _unpin(apps, plan, pr)
        if decision is None:
            emit(Note(plan.service, why_not))
            skipped = "left in place" in why_not
            result.result = "skipped" if skipped else "nothing-to-clean"
            result.reason = "pinned-by-other-pr" if skipped else "not-pinned"
            result.message = why_not
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
        result.reason, result.exit_code = e.reason, int(e.exit_code)
        result.message, result.hint = e.message, e.hint
        return result
    result.result, result.reason = "cleaned", "unpinned"
    return result
