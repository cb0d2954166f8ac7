"""Reads that pipeline/adapters/argocd.py and kube.py do not offer yet: listing Applications
and reading a Secret. They go through the adapters' own API objects and ``call_json`` (same
error mapping, same request counting), so no module outside adapters/ imports ``kubernetes``.
Candidates to move into the adapters (named in the helper report).
"""

from __future__ import annotations

from typing import Any

from pipeline.adapters.argocd import GROUP, VERSION, ArgoApplications
from pipeline.adapters.kube import KubeCluster, call_json

Obj = dict[str, Any]


def list_applications(apps: ArgoApplications, namespace: str, selector: str = "") -> list[Obj]:
    """Applications in ``namespace`` matching the label ``selector`` (list verb)."""
    apps.stats.count("list")
    body = call_json(
        f"list Applications in {namespace}",
        apps.custom.list_namespaced_custom_object,
        GROUP, VERSION, namespace, "applications",
        label_selector=selector or None, deadline=apps.deadline,
    )  # fmt: skip
    return list(body.get("items") or [])


def read_secret(cluster: KubeCluster, namespace: str, name: str) -> Obj:
    """The Secret ``namespace/name`` (``data`` values base64), for pull-secret references."""
    cluster.stats.count("get")
    return call_json(
        f"get Secret {namespace}/{name}",
        cluster.core.read_namespaced_secret,
        name,
        namespace,
        deadline=cluster.deadline,
    )


def namespace_exists(cluster: KubeCluster, name: str) -> bool | None:
    """Whether the namespace ``name`` exists; None when this identity may not tell (403).
    Asked only to explain a 404 or an empty list, so a good run never sends it."""
    from pipeline.adapters.kube import request_json
    from pipeline.errors import KubeAccessError, NotFound

    cluster.stats.count("get")
    try:
        request_json(
            f"get Namespace {name}",
            cluster.api,
            "GET",
            f"/api/v1/namespaces/{name}",
            cluster.deadline,
        )
    except NotFound:
        return False
    except KubeAccessError:
        return None
    return True


def repository_secrets(cluster: KubeCluster, namespace: str) -> list[Obj]:
    """Secrets labeled as Argo CD repositories or repository credentials in ``namespace``
    (argo-cd util/db); [] when this identity may not list them (403)."""
    from pipeline.core.repositories import SECRET_TYPE_LABEL
    from pipeline.errors import KubeAccessError

    cluster.stats.count("list")
    try:
        body = call_json(
            f"list repository Secrets in {namespace}",
            cluster.core.list_namespaced_secret,
            namespace,
            label_selector=f"{SECRET_TYPE_LABEL} in (repository,repo-creds)",
            deadline=cluster.deadline,
        )
    except KubeAccessError as e:
        if e.reason != "kube-forbidden":
            raise
        return []
    return list(body.get("items") or [])
