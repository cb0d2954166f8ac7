"""argocd-server's identity in the sandbox cluster: ServiceAccount ``argocd/argocd-server``
with the Role and ClusterRole of argo-cd's install manifests
(``manifests/base/server/argocd-server-role.yaml``,
``manifests/cluster-rbac/server/argocd-server-clusterrole.yaml``), and a client that uses its
token on the API server's HTTPS listener, where bearer tokens and RBAC apply.

The token is a legacy ``kubernetes.io/service-account-token`` Secret's (it does not expire;
real pods get a projected token the kubelet renews). The resource tree is the exception: the
real argocd-server reads it from the application-controller's cache, so the sandbox reads it
with the controller's (administrator) client; see :mod:`.tree`.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import requests

from pipeline.sandbox.kubeclient import ApiError, KubeClient

Obj = dict[str, Any]
NAMESPACE = "argocd"
NAME = "argocd-server"
LABELS = {
    "app.kubernetes.io/name": NAME,
    "app.kubernetes.io/part-of": "argocd",
    "app.kubernetes.io/component": "server",
}
_ALL_VERBS = ["create", "get", "list", "watch", "update", "patch", "delete"]
ROLE_RULES = [
    {"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": _ALL_VERBS},
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["applications", "appprojects", "applicationsets"],
        "verbs": ["create", "get", "list", "watch", "update", "delete", "patch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "list"]},
]
CLUSTER_ROLE_RULES = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["delete", "get", "patch"]},
    {"apiGroups": ["*"], "resources": ["*/finalizers"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]},
    {
        "apiGroups": ["argoproj.io"],
        "resources": ["applications", "applicationsets"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
    {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
]
RBAC = "/apis/rbac.authorization.k8s.io/v1"
TOKEN_SECRET = f"{NAME}-token"


def _ensure(admin: KubeClient, collection: str, obj: Obj) -> Obj:
    found = admin.get_or_none(f"{collection}/{obj['metadata']['name']}")
    if found is not None:
        return found
    try:
        return admin.create(collection, obj)
    except ApiError as e:
        if e.status != 409:
            raise
        return admin.get(f"{collection}/{obj['metadata']['name']}")


def install_identity(admin: KubeClient) -> str:
    """Create (when missing) the ServiceAccount, its Role/ClusterRole and bindings and a
    legacy token Secret; return the token."""
    meta = {"name": NAME, "labels": LABELS}
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]
    ns_path = f"/api/v1/namespaces/{NAMESPACE}"
    _ensure(admin, f"{ns_path}/serviceaccounts", {"metadata": dict(meta)})
    _ensure(admin, f"{RBAC}/namespaces/{NAMESPACE}/roles", {"metadata": meta, "rules": ROLE_RULES})
    _ensure(
        admin,
        f"{RBAC}/namespaces/{NAMESPACE}/rolebindings",
        {
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": subject,
        },
    )
    _ensure(admin, f"{RBAC}/clusterroles", {"metadata": meta, "rules": CLUSTER_ROLE_RULES})
    _ensure(
        admin,
        f"{RBAC}/clusterrolebindings",
        {
            "metadata": meta,
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": subject,
        },
    )
    secret = _ensure(
        admin,
        f"{ns_path}/secrets",
        {
            "metadata": {
                "name": TOKEN_SECRET,
                "annotations": {"kubernetes.io/service-account.name": NAME},
            },
            "type": "kubernetes.io/service-account-token",
        },
    )
    return base64.b64decode(secret["data"]["token"]).decode()


class ServiceAccountClient(KubeClient):
    """A :class:`KubeClient` sending a bearer token over HTTPS, verifying the sandbox CA."""

    def __init__(self, base_url: str, token: str, ca_file: Path, user_agent: str = NAME) -> None:
        super().__init__(base_url, token=token, user_agent=user_agent)
        self._ca = str(ca_file)

    def _session(self) -> requests.Session:
        session = super()._session()  # one per thread
        session.verify = self._ca
        session.trust_env = False  # else REQUESTS_CA_BUNDLE would replace the sandbox CA
        return session
