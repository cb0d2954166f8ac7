"""Argo CD's settings as argocd-server reads them through the Kubernetes API.

- ConfigMap ``argocd-cm``: ``accounts.<name>: <capabilities>`` (``apiKey``, ``login``),
  ``accounts.<name>.enabled``, ``admin.enabled``, ``users.session.duration``.
- ConfigMap ``argocd-rbac-cm``: ``policy.csv`` (plus ``policy.*.csv``), ``policy.default``.
- Secret ``argocd-secret``: ``server.secretkey`` (the HS256 key), ``admin.password`` (bcrypt),
  ``admin.passwordMtime``, ``accounts.<name>.password``, ``accounts.<name>.tokens`` /
  ``admin.tokens`` (JSON ``[{"id","iat","exp"}]``).
- Secret ``argocd-initial-admin-secret``: ``password``, the generated admin password.
- AppProjects in the Argo CD namespace (``spec.roles``, ``status.jwtTokensByRole``).

Sources: argo-cd ``util/settings/settings.go``, ``util/settings/accounts.go``,
``server/server.go`` (initializeDefaultProject), ``docs/operator-manual/user-management``.
``bootstrap`` creates what an install (plus ``argocd-server``'s first start) creates.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import bcrypt

from pipeline.sandbox.argocdapi.errors import NOT_FOUND, GrpcError
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient

Obj = dict[str, Any]
NAMESPACE = "argocd"
LOGIN = "login"
API_KEY = "apiKey"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
DEFAULT_SESSION_SECONDS = 24 * 3600

# What the sandbox's accounts and policy start with (kept when they exist already).
DEFAULT_CM = {"accounts.ci": API_KEY}
DEFAULT_RBAC = {
    "policy.default": "",
    "policy.csv": (
        "# p, <subject>, <resource>, <action>, <project>/<application>, allow|deny\n"
        "# g, <user>, role:<name>\n"
        "p, role:ci, applications, get, */*, allow\n"
        "p, role:ci, applications, update, */*, allow\n"
        "p, role:ci, applications, sync, */*, allow\n"
        "p, role:ci, logs, get, */*, allow\n"
        "g, ci, role:ci\n"
    ),
}


def _cm_path(name: str) -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/configmaps/{name}"


def _secret_path(name: str) -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}"


def _projects_path(name: str | None = None) -> str:
    path = f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/appprojects"
    return f"{path}/{name}" if name else path


def _now_rfc3339() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(data: dict[str, str] | None) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}


@dataclass
class Account:
    name: str
    enabled: bool
    capabilities: tuple[str, ...]
    password_hash: str = ""
    password_mtime: float | None = None
    tokens: list[Obj] = field(default_factory=list)

    def has_capability(self, capability: str) -> bool:
        return capability in self.capabilities

    def token_index(self, token_id: str) -> int:
        for i, token in enumerate(self.tokens):
            if token.get("id") == token_id:
                return i
        return -1


@dataclass
class Settings:
    cm: dict[str, str]
    rbac: dict[str, str]
    secret: dict[str, str]

    @property
    def server_key(self) -> bytes:
        return self.secret.get("server.secretkey", "").encode()

    @property
    def session_seconds(self) -> int:
        text = self.cm.get("users.session.duration", "")
        if text.endswith("h") and text[:-1].isdigit():
            return int(text[:-1]) * 3600
        return DEFAULT_SESSION_SECONDS

    def account(self, name: str) -> Account:
        """``SettingsManager.GetAccount``; NotFound "account '<name>' does not exist"."""
        enabled_key = "admin.enabled" if name == "admin" else f"accounts.{name}.enabled"
        enabled = self.cm.get(enabled_key, "true").lower() != "false"
        prefix = "admin" if name == "admin" else f"accounts.{name}"
        if name == "admin":
            caps_text = self.cm.get("accounts.admin", LOGIN)
        elif f"accounts.{name}" in self.cm:
            caps_text = self.cm[f"accounts.{name}"]
        else:
            raise GrpcError(NOT_FOUND, f"account '{name}' does not exist")
        caps = tuple(c.strip() for c in caps_text.split(",") if c.strip())
        mtime_text = self.secret.get(f"{prefix}.passwordMtime")
        mtime = None
        if mtime_text:
            mtime = (
                datetime.datetime.strptime(mtime_text, "%Y-%m-%dT%H:%M:%SZ")
                .replace(tzinfo=datetime.UTC)
                .timestamp()
            )
        tokens = json.loads(self.secret.get(f"{prefix}.tokens") or "[]")
        return Account(
            name=name,
            enabled=enabled,
            capabilities=caps,
            password_hash=self.secret.get(f"{prefix}.password", ""),
            password_mtime=mtime,
            tokens=list(tokens),
        )


class SettingsStore:
    """Reads (every time: the API server is local) and writes the settings objects."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self._wrote = False

    def _data(self, path: str) -> dict[str, str]:
        obj = self.kube.get_or_none(path)
        return dict((obj or {}).get("data") or {})

    def load(self) -> Settings:
        return Settings(
            cm=self._data(_cm_path("argocd-cm")),
            rbac=self._data(_cm_path("argocd-rbac-cm")),
            secret=_decode(self._data(_secret_path("argocd-secret"))),
        )

    def project(self, name: str) -> Obj | None:
        return self.kube.get_or_none(_projects_path(name))

    def update_project(self, project: Obj) -> Obj:
        """PUT with the read resourceVersion (409 Conflict when it changed meanwhile)."""
        return self.kube.replace(_projects_path(project["metadata"]["name"]), project)

    def set_account_tokens(self, account: Account) -> None:
        prefix = "admin" if account.name == "admin" else f"accounts.{account.name}"
        value = json.dumps(account.tokens, separators=(",", ":"))
        patch = {"data": {f"{prefix}.tokens": base64.b64encode(value.encode()).decode()}}
        self.kube.patch(_secret_path("argocd-secret"), patch, MERGE_PATCH)

    def bootstrap(self) -> bool:
        """Create argocd-cm, argocd-rbac-cm, argocd-secret (with ``server.secretkey`` and a
        bcrypt admin password), argocd-initial-admin-secret and the ``default`` AppProject
        when missing; existing objects are left as they are. True when it wrote anything."""
        self._wrote = False
        for name, data in (("argocd-cm", DEFAULT_CM), ("argocd-rbac-cm", DEFAULT_RBAC)):
            if self.kube.get_or_none(_cm_path(name)) is None:
                self._create(
                    f"/api/v1/namespaces/{NAMESPACE}/configmaps",
                    {"metadata": {"name": name, "labels": PART_OF}, "data": data},
                )
        secret = self.kube.get_or_none(_secret_path("argocd-secret"))
        current = _decode((secret or {}).get("data"))
        additions: dict[str, str] = {}
        if not current.get("server.secretkey"):
            additions["server.secretkey"] = base64.b64encode(secrets.token_bytes(32)).decode()
        if not current.get("admin.password"):
            password = secrets.token_urlsafe(12)
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
            additions["admin.password"] = hashed
            additions["admin.passwordMtime"] = _now_rfc3339()
            initial = {
                "metadata": {"name": "argocd-initial-admin-secret"},
                "type": "Opaque",
                "data": {"password": base64.b64encode(password.encode()).decode()},
            }
            self.kube.delete(_secret_path("argocd-initial-admin-secret"))
            self._create(f"/api/v1/namespaces/{NAMESPACE}/secrets", initial)
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in additions.items()}
        if secret is None:
            self._create(
                f"/api/v1/namespaces/{NAMESPACE}/secrets",
                {
                    "metadata": {"name": "argocd-secret", "labels": PART_OF},
                    "type": "Opaque",
                    "data": encoded,
                },
            )
        elif encoded:
            self.kube.patch(_secret_path("argocd-secret"), {"data": encoded}, MERGE_PATCH)
            self._wrote = True
        if self.project("default") is None:
            self._create(
                _projects_path(),
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "AppProject",
                    "metadata": {"name": "default"},
                    "spec": {
                        "sourceRepos": ["*"],
                        "destinations": [{"server": "*", "namespace": "*"}],
                        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                    },
                },
            )
        return self._wrote

    def _create(self, path: str, obj: Obj) -> None:
        try:
            self.kube.create(path, obj)
            self._wrote = True
        except ApiError as e:
            if e.status != 409:
                raise


def check_password(password: str, hashed: str) -> bool:
    if not hashed:
        return False
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False
