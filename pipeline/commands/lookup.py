"""Objects a command needs that may be missing: a 404 becomes a message naming the object and
the fix (exit 7, ``KUBE_ACCESS``), never a bare API error or a traceback."""

from __future__ import annotations

from typing import Any

from pipeline.errors import HiddenNotFound, KubeAccessError, NotFound
from pipeline.wiring import KubeClients

Obj = dict[str, Any]
NAMESPACE_FIX = (
    "pass --argocd-namespace (or argocd_namespace: in pipeline.yaml) naming the namespace "
    "where Argo CD keeps its Applications"
)


def missing_namespace(kube: KubeClients, namespace: str, what: str) -> KubeAccessError | None:
    """The error for a missing ``namespace``; None when it exists or we may not tell."""
    if kube.namespace_exists(namespace) is not False:
        return None
    return KubeAccessError(
        f"namespace {namespace} does not exist on {kube.server} (looking for {what})",
        hint=NAMESPACE_FIX,
        reason="namespace-not-found",
    )


def missing_application(kube: KubeClients, namespace: str, name: str) -> KubeAccessError:
    return missing_namespace(kube, namespace, f"Application {name}") or KubeAccessError(
        f"Application {namespace}/{name} does not exist on {kube.server}",
        hint=f"check the name (--app, or --service with the app: template of pipeline.yaml, "
        f"default dev-api-{{service}}); `kubectl -n {namespace} get applications` lists them",
        reason="application-not-found",
    )


def missing_applications(
    kube: KubeClients, namespace: str, names: list[str], selector: str = ""
) -> KubeAccessError:
    """Applications of the configured services that a list did not return."""
    if len(names) == 1 and not selector:
        return missing_application(kube, namespace, names[0])
    listed = ", ".join(f"{namespace}/{n}" for n in names)
    matching = f" matching -l {selector}" if selector else ""
    return KubeAccessError(
        f"Application(s) {listed} do not exist{matching} on {kube.server}",
        hint="check the services (--service or services: in pipeline.yaml) and the app: "
        f"template (default dev-api-{{service}}); `kubectl -n {namespace} get applications "
        "--show-labels` lists them",
        reason="application-not-found",
    )


def get_application(kube: KubeClients, namespace: str, name: str) -> Obj:
    try:
        return kube.applications.get_application(namespace, name)
    except HiddenNotFound:
        raise KubeAccessError(
            f"Application {namespace}/{name} does not exist on {kube.server}, or this token "
            "may not get it (Argo CD answers permission denied for both)",
            hint="check the name (--app, or --service with the app: template of pipeline.yaml) "
            "and the token's project: its role needs `applications, get` on <project>/"
            f"{name} (`pipeline render rbac --backend argocd-api`)",
            reason="application-not-found",
        ) from None
    except NotFound:
        raise missing_application(kube, namespace, name) from None


def unreachable_hint(kube: KubeClients) -> str:
    return (
        f"the kubeconfig ({kube.source}) names the API server {kube.server}: check the "
        "address and that the cluster is up (`pipeline sandbox status` for the sandbox)"
    )


def explained(error: KubeAccessError, kube: KubeClients) -> KubeAccessError:
    """``error`` with the server and the kubeconfig named when the server was unreachable."""
    if error.reason == "kube-unreachable":
        error.hint = unreachable_hint(kube)
    return error
