"""`pipeline refresh`: ask Argo CD to reconcile an Application now, optionally wait for it.

Written the way argocd-server's ``RefreshApp`` writes it (``util/argo/argo.go``): a JSON merge
patch of ``metadata.annotations`` setting ``argocd.argoproj.io/refresh`` to ``normal`` or
``hard`` (hard: manifests regenerated without the repo-server cache). The controller removes
the annotation once a reconcile finished after the request (in the status write up to v3.5, in a
separate patch later; reference/argocd-kubernetes.md A.4), so "annotation gone" is the signal
``--wait`` watches for, as argocd-server's ``Get ?refresh=`` does. Never polled: core/watch.py
watches from the resourceVersion our patch returned and re-reads on 410 Gone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.ports import Applications
from pipeline.core.watch import ApplicationSource, wait_for
from pipeline.errors import DeployTimeoutError

Obj = dict[str, Any]
REFRESH = "argocd.argoproj.io/refresh"


def refresh_patch(hard: bool) -> Obj:
    return {"metadata": {"annotations": {REFRESH: "hard" if hard else "normal"}}}


def refresh_pending(app: Obj) -> bool:
    return REFRESH in (app.get("metadata", {}).get("annotations") or {})


@dataclass(frozen=True)
class RefreshResult:
    application: str
    kind: str  # "normal" | "hard"
    waited: bool
    reconciled_at: str  # status.reconciledAt after the refresh, when waited
    resource_version: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "application": self.application,
            "refresh": self.kind,
            "waited": self.waited,
            "reconciledAt": self.reconciled_at or None,
            "resourceVersion": self.resource_version,
        }


def refresh_application(
    apps: Applications,
    namespace: str,
    name: str,
    *,
    hard: bool = False,
    wait: bool = False,
    timeout: float = 60.0,
    clock: Callable[[], float],
) -> RefreshResult:
    """Set the refresh annotation; with ``wait``, block until the controller removed it."""
    deadline = clock() + timeout
    app = apps.patch_application(namespace, name, refresh_patch(hard))

    def timed_out(app: Obj) -> DeployTimeoutError:
        return DeployTimeoutError(
            f"Argo CD did not finish refreshing Application {namespace}/{name} "
            f"within {timeout:.0f}s",
            hint="check that the application-controller runs: kubectl -n "
            f"{namespace} get application {name} -o jsonpath='{{.status.conditions}}'",
        )

    if wait:
        source = ApplicationSource(apps, namespace, name, initial=app)
        app = wait_for(
            source, lambda a: not refresh_pending(a), deadline=deadline, clock=clock,
            on_timeout=timed_out,
        )  # fmt: skip
    return RefreshResult(
        application=f"{namespace}/{name}",
        kind="hard" if hard else "normal",
        waited=wait,
        reconciled_at=str(app.get("status", {}).get("reconciledAt") or "") if wait else "",
        resource_version=str(app["metadata"]["resourceVersion"]),
    )
