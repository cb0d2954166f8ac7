"""Who sent a request, and what RBAC lets them do (argo-cd ``util/session``,
``server/server.go`` Authenticate/getClaims, ``server/session``, ``server/account``,
``server/project`` CreateToken, ``server/rbacpolicy``).

- The token comes from ``Authorization: Bearer <jwt>`` or the ``argocd.token`` cookie. None:
  Unauthenticated "no session information". One that does not verify: Unauthenticated
  "invalid session: <reason>".
- ``proj:<p>:<r>`` subjects must be recorded in the AppProject's
  ``status.jwtTokensByRole[<r>]`` (by ``jti``, else by ``iat``); other subjects are local
  accounts (``<name>:login`` or ``<name>:apiKey``) that must exist, be enabled, have the
  capability, and for apiKey tokens list the ``jti`` in their tokens.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.argocdapi import jwt
from pipeline.sandbox.argocdapi.errors import (
    INVALID_ARGUMENT,
    NOT_FOUND,
    UNAUTHENTICATED,
    GrpcError,
    unknown,
)
from pipeline.sandbox.argocdapi.policy import (
    Enforcer,
    PolicyError,
    Project,
    policy_csv,
    project_of,
)
from pipeline.sandbox.argocdapi.policy import project_subject as split_project_subject
from pipeline.sandbox.argocdapi.settings import (
    API_KEY,
    LOGIN,
    Settings,
    SettingsStore,
    check_password,
)
from pipeline.sandbox.kubeclient import ApiError

Obj = dict[str, Any]
INVALID_LOGIN = "Invalid username or password"
NO_SESSION = "no session information"


@dataclass
class Caller:
    """The request's claims (None: anonymous) and the settings read for it."""

    settings: Settings
    claims: Obj | None = None
    auth_error: GrpcError | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    projects: dict[str, Obj | None] = field(default_factory=dict)  # read once per request

    @property
    def logged_in(self) -> bool:
        return self.claims is not None

    @property
    def subject(self) -> str:
        return str((self.claims or {}).get("sub", ""))

    @property
    def username(self) -> str:
        return self.subject

    @property
    def issuer(self) -> str:
        return str((self.claims or {}).get("iss", ""))

    def require(self) -> None:
        if self.claims is None:
            raise self.auth_error or GrpcError(UNAUTHENTICATED, NO_SESSION)


def token_from_headers(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "argocd.token":
            return value.strip()
    return ""


def _subject_and_capability(subject: str) -> tuple[str, str]:
    """``GetSubjectAccountAndCapability``."""
    name, _, cap = subject.partition(":")
    if cap == LOGIN:
        return name, LOGIN
    return name, API_KEY


class Sessions:
    def __init__(self, store: SettingsStore) -> None:
        self.store = store

    def authenticate(self, headers: dict[str, str]) -> Caller:
        settings = self.store.load()
        caller = Caller(settings)
        token = token_from_headers(headers)
        if not token:
            caller.auth_error = GrpcError(UNAUTHENTICATED, NO_SESSION)
            return caller
        try:
            caller.claims = self._parse(token, settings)
        except (jwt.TokenError, GrpcError) as e:
            text = e.message if isinstance(e, GrpcError) else str(e)
            caller.auth_error = GrpcError(UNAUTHENTICATED, f"invalid session: {text}")
        return caller

    def _parse(self, token: str, settings: Settings) -> Obj:
        claims = jwt.verify(token, settings.server_key)
        if claims.get("iss") != jwt.ISSUER:
            raise jwt.TokenError(f"unsupported token issuer: {claims.get('iss')}")
        subject = str(claims.get("sub", ""))
        token_id = str(claims.get("jti", ""))
        issued_at = int(claims.get("iat", 0))
        scoped = split_project_subject(subject)
        if scoped is not None:
            project_name, role = scoped
            project = self.store.project(project_name)
            if project is None:
                raise GrpcError(NOT_FOUND, f'appprojects.argoproj.io "{project_name}" not found')
            items = (
                ((project.get("status") or {}).get("jwtTokensByRole") or {}).get(role) or {}
            ).get("items") or []
            if not any(
                (token_id and t.get("id") == token_id) or int(t.get("iat", -2)) == issued_at
                for t in items
            ):
                raise jwt.TokenError(
                    f"JWT token for role '{role}' issued at '{issued_at}' does not exist in "
                    f"project '{project_name}'"
                )
            return claims
        name, capability = _subject_and_capability(subject)
        claims["sub"] = name
        account = settings.account(name)
        if not account.enabled:
            raise jwt.TokenError(f"account {name} is disabled")
        if not account.has_capability(capability):
            raise jwt.TokenError(f"account {name} does not have '{capability}' capability")
        if not token_id:
            raise jwt.TokenError(
                "token does not have a unique identifier (jti claim) and cannot be validated"
            )
        if capability == API_KEY and account.token_index(token_id) == -1:
            raise jwt.TokenError(f"account {name} does not have token with id {token_id}")
        if account.password_mtime is not None and issued_at < int(account.password_mtime):
            raise jwt.TokenError("account password has changed since token issued")
        return claims

    def login(self, username: str, password: str) -> str:
        """``POST /api/v1/session`` (``server/session`` Create, ``VerifyUsernamePassword``)."""
        if not username or not password:
            raise GrpcError(UNAUTHENTICATED, "no credentials supplied")
        if len(username) > 32:
            raise GrpcError(INVALID_ARGUMENT, "username is too long (32 bytes max)")
        settings = self.store.load()
        try:
            account = settings.account(username)
        except GrpcError as e:
            if e.code == NOT_FOUND:
                raise GrpcError(UNAUTHENTICATED, INVALID_LOGIN) from e
            raise
        if not check_password(password, account.password_hash):
            raise GrpcError(UNAUTHENTICATED, INVALID_LOGIN)
        if not account.enabled:
            raise GrpcError(UNAUTHENTICATED, f"Account {username} is disabled")
        if not account.has_capability(LOGIN):
            raise GrpcError(UNAUTHENTICATED, f"Account {username} does not have {LOGIN} capability")
        return jwt.create(
            f"{username}:{LOGIN}",
            settings.server_key,
            jti=str(uuid.uuid4()),
            expires_in=settings.session_seconds,
        )

    def create_account_token(
        self, caller: Caller, name: str, expires_in: int, token_id: str
    ) -> str:
        """``POST /api/v1/account/{name}/token`` (``server/account`` CreateToken)."""
        itself = caller.subject == name and caller.issuer == jwt.ISSUER
        if not itself and not self.enforce(caller, "accounts", "update", name):
            raise GrpcError(
                7,
                f"permission denied to create token for account {name}: permission "
                f"denied for account {name} with action update: "
                + denied_text(caller, "accounts", "update", name),
            )
        token_id = token_id or str(uuid.uuid4())
        settings = self.store.load()
        try:
            account = settings.account(name)
        except GrpcError as e:
            raise e.wrap("failed to update account with new token") from e
        if account.token_index(token_id) > -1:
            raise unknown(
                "failed to update account with new token: account already has token with id "
                f"'{token_id}'"
            )
        if not account.has_capability(API_KEY):
            raise unknown(
                f"failed to update account with new token: account '{name}' does not have "
                f"{API_KEY} capability"
            )
        token = jwt.create(
            f"{name}:{API_KEY}", settings.server_key, jti=token_id, expires_in=expires_in
        )
        claims = jwt.verify(token, settings.server_key)
        account.tokens.append({"id": token_id, "iat": claims["iat"], "exp": claims.get("exp", 0)})
        self.store.set_account_tokens(account)
        return token

    def create_project_token(
        self, caller: Caller, project_name: str, role_name: str, expires_in: int, token_id: str
    ) -> str:
        """``POST /api/v1/projects/{project}/roles/{role}/token`` (``server/project``):
        records ``{iat, exp, id}`` in ``status.jwtTokensByRole[role].items``."""
        for _ in range(5):
            project = self.store.project(project_name)
            if project is None:
                raise GrpcError(NOT_FOUND, f'appprojects.argoproj.io "{project_name}" not found')
            roles = (project.get("spec") or {}).get("roles") or []
            role = next((r for r in roles if r.get("name") == role_name), None)
            if role is None:
                raise GrpcError(
                    NOT_FOUND, f"project '{project_name}' does not have role '{role_name}'"
                )
            if not self.enforce(caller, "projects", "update", project_name):
                raise GrpcError(7, denied_text(caller, "projects", "update", project_name))
            settings = caller.settings
            jti = token_id or str(uuid.uuid4())
            token = jwt.create(
                f"proj:{project_name}:{role_name}", settings.server_key, jti=jti,
                expires_in=expires_in,
            )  # fmt: skip
            claims = jwt.verify(token, settings.server_key)
            status = project.setdefault("status", {})
            by_role = status.setdefault("jwtTokensByRole", {})
            items = by_role.setdefault(role_name, {}).setdefault("items", [])
            items.append({"iat": claims["iat"], "exp": claims.get("exp", 0), "id": jti})
            try:
                self.store.update_project(project)
            except ApiError as e:
                if e.status == 409:
                    continue
                raise unknown(str(e)) from e
            return token
        raise unknown("Operation cannot be fulfilled: too many conflicts")

    def enforcer(self, settings: Settings) -> Enforcer:
        return _enforcer(policy_csv(settings.rbac), settings.rbac.get("policy.default", ""))

    def enforce(self, caller: Caller, resource: str, action: str, obj: str) -> bool:
        project = None
        name = project_of(resource, obj)
        if name is not None:
            if name not in caller.projects:
                caller.projects[name] = self.store.project(name)
            found = caller.projects[name]
            if found is not None:
                project = Project(name, tuple((found.get("spec") or {}).get("roles") or []))
        subject = caller.subject if caller.claims is not None else None
        return self.enforcer(caller.settings).enforce(
            subject, caller.groups, resource, action, obj, project
        )


@functools.lru_cache(maxsize=16)
def _enforcer(policy: str, default_role: str) -> Enforcer:
    try:
        return Enforcer(policy, default_role)
    except PolicyError:
        return Enforcer("", default_role)  # argo-cd keeps its last valid policy


def denied_text(caller: Caller, resource: str, action: str, obj: str) -> str:
    """``Enforcer.EnforceErr``'s message: "permission denied: res, act, obj, sub: s, iat: t"."""
    parts = [resource, action, obj]
    if caller.claims is not None:
        if caller.subject:
            parts.append(f"sub: {caller.subject}")
        if "iat" in caller.claims:
            moment = datetime.datetime.fromtimestamp(int(caller.claims["iat"]), tz=datetime.UTC)
            parts.append(f"iat: {moment.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    return "permission denied: " + ", ".join(parts)
