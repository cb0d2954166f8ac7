"""Turn a rollout verdict into the error (exit code + stable reason) and its evidence.

Reasons are documented in docs/exit-codes.md; the evidence (last log lines, recent events of
the failing pod) is what ``kubectl logs --tail`` and ``kubectl get events`` would show.
"""

from __future__ import annotations

from pipeline.core.plan import ServicePlan
from pipeline.core.ports import Cluster
from pipeline.core.rollout import Verdict
from pipeline.deploy.verify import Outcome
from pipeline.errors import (
    CrashLoopError,
    DeployTimeoutError,
    ImagePullError,
    PipelineError,
    PreflightError,
    Problem,
)

LOG_LINES = 20
EVENTS = 10


def error_for(verdict: Verdict, plan: ServicePlan) -> PipelineError:
    reason, message = verdict.reason, verdict.message
    inspect = (
        f"kubectl describe pod -n {plan.namespace} {verdict.pod}"
        if verdict.pod
        else f"kubectl get pods -n {plan.namespace} -l {plan.selector}"
    )
    if reason in ("err-image-pull", "image-pull-backoff", "invalid-image-name"):
        return ImagePullError(
            message,
            hint=f"the kubelet cannot pull {plan.repository}: check the image exists and the "
            f"pull secret; {inspect}",
            reason=reason,
        )
    if reason in ("crash-loop", "container-start-error"):
        return CrashLoopError(
            message, hint=f"the canary container exits; read its logs: {inspect}", reason=reason
        )
    if reason in ("override-rewrote-image", "container-config-error", "canary-workload-not-found"):
        error = PreflightError([Problem(reason, message, _fix(reason, plan))])
        error.reason = reason
        return error
    if reason == "progress-deadline-exceeded":
        return DeployTimeoutError(message, hint=inspect, reason=reason)
    return DeployTimeoutError(
        f"timed out after {plan.timeout:.0f}s; last seen: {message}",
        hint=f"raise --timeout or look at the pods: {inspect}",
        reason="timeout",
    )


def _fix(reason: str, plan: ServicePlan) -> str:
    if reason == "override-rewrote-image":
        return (
            "an overlay `images` entry (or a mutating webhook) rewrites the canary image; give "
            f"the canary its own image name so `- name: {plan.repository.name}` does not match "
            "it (see docs/deploy-canary.md, 'Overlay rewrites the canary tag')"
        )
    if reason == "container-config-error":
        return "create the ConfigMap/Secret the canary references, or fix its securityContext"
    return "the canary Deployment disappeared during the rollout; check who deletes it"


def diagnose(
    cluster: Cluster, plan: ServicePlan, outcome: Outcome, container: str | None
) -> tuple[str, list[str]]:
    """Last log lines and recent events of the failing (or first unready new) pod."""
    pod = outcome.verdict.pod or next((p.name for p in outcome.pods if not p.ready), "")
    if not pod:
        return "", []
    logs = cluster.pod_log_tail(plan.namespace, pod, container or "", LOG_LINES)
    return logs, cluster.pod_events(plan.namespace, pod, EVENTS)
