"""Getting tokens from the sandbox's Argo CD API server, as a user would with the argocd CLI.

- admin: the password is in Secret ``argocd/argocd-initial-admin-secret`` (key ``password``);
  ``POST /api/v1/session`` turns it into a session token (``argocd login``).
- an account with the ``apiKey`` capability: ``POST /api/v1/account/<name>/token``
  (``argocd account generate-token --account <name>``).
- a project role: ``POST /api/v1/projects/<p>/roles/<r>/token`` (``argocd proj role
  create-token``). :func:`ensure_project_role` first creates the AppProject and the role when
  missing (``argocd proj create`` + ``proj role create`` + ``proj role add-policy``).
"""

from __future__ import annotations

import base64
from typing import Any

import requests

from pipeline.sandbox.kubeclient import KubeClient

Obj = dict[str, Any]
PROJECTS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects"


class TokenRequestError(Exception):
    """The Argo CD API server refused (its grpc-gateway message)."""


def admin_password(kube: KubeClient) -> str:
    secret = kube.get("/api/v1/namespaces/argocd/secrets/argocd-initial-admin-secret")
    return base64.b64decode(secret["data"]["password"]).decode()


def _post(url: str, body: Obj, token: str | None = None, verify: bool | str = True) -> Obj:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = requests.post(url, json=body, headers=headers, timeout=30, verify=verify)
    except requests.RequestException as e:
        raise TokenRequestError(f"cannot reach {url}: {type(e).__name__}") from None
    try:
        data: Obj = resp.json()
    except ValueError:
        data = {"message": resp.text}
    if resp.status_code >= 400:
        raise TokenRequestError(f"HTTP {resp.status_code}: {data.get('message', data)}")
    return data


def login(server: str, username: str, password: str) -> str:
    return str(
        _post(f"{server}/api/v1/session", {"username": username, "password": password})["token"]
    )


def admin_token(kube: KubeClient, server: str) -> str:
    return login(server, "admin", admin_password(kube))


def account_token(server: str, token: str, account: str, expires_in: int = 0) -> str:
    body: Obj = {"name": account, "expiresIn": str(expires_in)}
    return str(_post(f"{server}/api/v1/account/{account}/token", body, token)["token"])


def ensure_project_role(kube: KubeClient, project: str, role: str, actions: list[str]) -> None:
    """Create AppProject ``project`` (any repo, any destination) and its role ``role`` allowed
    ``applications, <action>, <project>/*`` for each action (``<resource>:<action>`` for
    another resource, e.g. ``logs:get``), when missing."""
    existing = kube.get_or_none(f"{PROJECTS}/{project}")
    if existing is None:
        existing = kube.create(
            PROJECTS,
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AppProject",
                "metadata": {"name": project, "namespace": "argocd"},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            },
        )
    roles = existing.setdefault("spec", {}).setdefault("roles", [])
    if any(r.get("name") == role for r in roles):
        return
    subject = f"proj:{project}:{role}"
    policies = []
    for action in actions:
        resource, _, verb = action.rpartition(":")
        policies.append(f"p, {subject}, {resource or 'applications'}, {verb}, {project}/*, allow")
    roles.append({"name": role, "policies": policies})
    kube.replace(f"{PROJECTS}/{project}", existing)


def project_token(server: str, token: str, project: str, role: str, expires_in: int = 0) -> str:
    body: Obj = {"project": project, "role": role, "expiresIn": str(expires_in)}
    url = f"{server}/api/v1/projects/{project}/roles/{role}/token"
    return str(_post(url, body, token)["token"])
