"""Check, before any write, that this identity may do everything a deploy does.

A deploy that is allowed to patch the Application but not to watch the canary's pods would
pin and sync, then fail: a half-applied change. So preflight asks the API server with one
SelfSubjectAccessReview per permission (authorization.k8s.io/v1; every authenticated user may
create them through the default ``system:basic-user`` ClusterRole) and reports every missing
permission at once, with the Role that grants them. Through the Argo CD API the review is
Argo CD RBAC's (adapters/argocd_api_access.py), chosen by the wiring as ``Dependencies.access``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.plan import ServicePlan
from pipeline.core.ports import AccessGaps, Cluster, Dependencies
from pipeline.errors import KubeAccessError


@dataclass(frozen=True)
class Access:
    verb: str
    group: str
    resource: str
    namespace: str

    def __str__(self) -> str:
        group = f".{self.group}" if self.group else ""
        return f"{self.verb} {self.resource}{group} in namespace {self.namespace}"


def required_access(argocd_namespace: str, namespace: str) -> list[Access]:
    """What every deploy does. Conditional reads are left out: ApplicationSets (only when one
    owns the Application), Secrets (only after a registry 401), pods/log and events (only to
    explain a failure); a missing one of those fails with its own 403 before any write or
    only degrades a failure report."""
    apps = [Access(v, "argoproj.io", "applications", argocd_namespace)
            for v in ("get", "patch", "watch")]  # fmt: skip
    workloads = [
        Access(verb, group, resource, namespace)
        for group, resource in (("apps", "deployments"), ("apps", "replicasets"), ("", "pods"))
        for verb in ("list", "watch")
    ]
    return apps + workloads


def role_fix(missing: list[Access]) -> str:
    lines = ["grant them, e.g. (or apply `pipeline render rbac`):"]
    for namespace in sorted({a.namespace for a in missing}):
        lines += [
            "apiVersion: rbac.authorization.k8s.io/v1",
            "kind: Role",
            f"metadata: {{name: pipeline-deploy-canary, namespace: {namespace}}}",
            "rules:",
        ]
        for a in missing:
            if a.namespace == namespace:
                rule = f'apiGroups: ["{a.group}"], resources: [{a.resource}], verbs: [{a.verb}]'
                lines.append(f"  - {{{rule}}}")
        lines.append("---")
    return "\n".join(lines[:-1])


class ClusterAccessReview:
    """The Kubernetes backend's review: one SelfSubjectAccessReview per permission."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def review(self, argocd_namespace: str, app: str, namespace: str) -> AccessGaps | None:
        missing = [
            access
            for access in required_access(argocd_namespace, namespace)
            if self.cluster.can_i(access.verb, access.group, access.resource, access.namespace)
            is False
        ]
        return AccessGaps([str(a) for a in missing], role_fix(missing)) if missing else None


def check_access(deps: Dependencies, plan: ServicePlan) -> None:
    """Raise KubeAccessError naming every missing permission; skip when reviews are unavailable."""
    review = deps.access or ClusterAccessReview(deps.cluster)
    gaps = review.review(plan.argocd_namespace, plan.app, plan.namespace)
    if gaps:
        raise KubeAccessError(
            f"this identity may not: {'; '.join(gaps.missing)}", hint=gaps.fix,
            reason=gaps.reason,
        )  # fmt: skip
