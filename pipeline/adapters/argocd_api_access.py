"""The access preflight through the Argo CD API: Argo CD RBAC's own answer
(``GET /api/v1/account/can-i/<resource>/<action>/<object>``) for every action a deploy takes
on its Application: ``get`` (reads, watches, the resource tree and live pods), ``update`` (the
pin) and ``sync``. The object is the Application's RBAC name (argo-cd
``Application.RBACName``): ``<project>/<app>`` for an Application in Argo CD's own namespace,
``<project>/<namespace>/<app>`` for one elsewhere.
"""

from __future__ import annotations

from pipeline.adapters.argocd_api import ArgoApiApplications
from pipeline.core.ports import AccessGaps, NotFound

ACTIONS = ("get", "update", "sync")


def rbac_name(project: str, app_namespace: str, app: str, argocd_namespace: str) -> str:
    if app_namespace == argocd_namespace:
        return f"{project}/{app}"
    return f"{project}/{app_namespace}/{app}"


class ArgoApiAccessReview:
    """``AccessReview`` (core/ports.py) answered by Argo CD RBAC."""

    def __init__(self, apps: ArgoApiApplications, argocd_namespace: str = "argocd") -> None:
        self.apps, self.argocd_namespace = apps, argocd_namespace

    def review(self, argocd_namespace: str, app: str, namespace: str) -> AccessGaps | None:
        try:
            application = self.apps.get_application(argocd_namespace, app)
        except NotFound:
            return None  # the preflight reports the missing Application with its fix
        project = str((application.get("spec") or {}).get("project") or "default")
        obj = rbac_name(project, argocd_namespace, app, self.argocd_namespace)
        missing = [a for a in ACTIONS if self.apps.can_i("applications", a, obj) is False]
        if not missing:
            return None
        lines = [f"p, role:<ci-role>, applications, {a}, {obj}, allow" for a in missing]
        return AccessGaps(
            [f"{a} Application {obj} (Argo CD RBAC: applications, {a})" for a in missing],
            "add to policy.csv in ConfigMap argocd-rbac-cm (or project role policies), for "
            "the role of this token:\n"
            + "\n".join(lines)
            + "\n(`pipeline render rbac` prints the account and every line the pipeline needs)",
            reason="argocd-forbidden",
        )
