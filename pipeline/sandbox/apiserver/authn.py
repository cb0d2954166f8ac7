"""Authentication: who sent a request.

- No ``Authorization`` header (and any scheme other than ``Bearer``) on the plain-HTTP
  listener: the sandbox's loopback admin, user ``system:admin`` in ``system:masters``. This
  stands in for the old insecure port (``--insecure-port``, removed in 1.20) and for the
  apiserver's own loopback client; the sandbox controllers and tests use it. On the TLS
  listener the same request is ``system:anonymous`` in ``system:unauthenticated``.
- ``Authorization: Bearer <token>`` (``k8s.io/apiserver/pkg/authentication/request/
  bearertoken``): a ServiceAccount token from the TokenRequest API or a legacy token Secret.
  Anything that does not verify is 401 ``Unauthorized`` (``filters/authentication.go``
  ``Unauthorized``), never a fall-back to another identity.

Service accounts authenticate as ``system:serviceaccount:<ns>:<name>`` in the groups
``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and ``system:authenticated``
(``pkg/serviceaccount/util.go`` UserInfo; the group adder in ``authenticatorfactory``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.resources import ResourceType, served
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tokens import (
    API_AUDIENCE,
    BOUND_ISSUER,
    LEGACY_ISSUER,
    TokenSigner,
    service_account_groups,
    service_account_username,
)

Obj = dict[str, Any]
AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"
SERVICE_ACCOUNTS = served("", "v1", "serviceaccounts")
SECRETS = served("", "v1", "secrets")
PODS = served("", "v1", "pods")
_LEGACY = "kubernetes.io/serviceaccount/"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    """``k8s.io/apiserver/pkg/authentication/user.Info``."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_superuser(self) -> bool:
        """Members of ``system:masters`` pass every authorization check (the apiserver's
        privileged-group authorizer runs before RBAC)."""
        return MASTERS in self.groups


LOOPBACK_ADMIN = UserInfo("system:admin", (MASTERS, AUTHENTICATED))
ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


def unauthorized() -> st.ApiStatusError:
    return st.ApiStatusError(401, "Unauthorized", "Unauthorized")


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None when no bearer credential."""
    parts = headers.get("authorization", "").strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


class Authenticator:
    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        audiences: tuple[str, ...] = (API_AUDIENCE,),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.signer = signer
        self.audiences = audiences
        self.clock = clock

    def authenticate(self, headers: Mapping[str, str], secure: bool = False) -> UserInfo:
        """``secure``: the request came in on the TLS listener, where no credentials means
        ``system:anonymous`` (``--anonymous-auth=true``) instead of the loopback admin."""
        token = bearer_token(headers)
        if token is None:
            return ANONYMOUS if secure else LOOPBACK_ADMIN
        claims = self.signer.verify(token)
        if claims is None:
            raise unauthorized()
        if claims.get("iss") == BOUND_ISSUER:
            user = self._bound(claims)
        elif claims.get("iss") == LEGACY_ISSUER:
            user = self._legacy(claims, token)
        else:
            user = None
        if user is None:
            raise unauthorized()
        return user

    def _live(self, rt: ResourceType, namespace: str, name: str, uid: Any) -> Obj | None:
        obj = self.store.find(rt, namespace, name)
        if obj is None or not uid or obj["metadata"].get("uid") != uid:
            return None
        if obj["metadata"].get("deletionTimestamp"):
            return None
        return obj

    def _bound(self, claims: Obj) -> UserInfo | None:
        """``pkg/serviceaccount/claims.go`` Validate: time, audience, bound objects."""
        now = self.clock()
        if not claims.get("nbf", 0) <= now < claims.get("exp", 0):
            return None
        if not set(claims.get("aud") or []) & set(self.audiences):
            return None
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace", "")
        sa_ref = private.get("serviceaccount") or {}
        sa = self._live(SERVICE_ACCOUNTS, namespace, sa_ref.get("name", ""), sa_ref.get("uid"))
        if sa is None:
            return None
        for kind, rt in (("pod", PODS), ("secret", SECRETS)):
            ref = private.get(kind)
            if ref is not None and self._live(rt, namespace, ref["name"], ref["uid"]) is None:
                return None
        return self._user(sa, {CREDENTIAL_ID: (f"JTI={claims.get('jti', '')}",)})

    def _legacy(self, claims: Obj, token: str) -> UserInfo | None:
        """``pkg/serviceaccount/legacy.go`` Validate: the Secret still holds this token and
        the ServiceAccount still has the uid it was issued for."""
        namespace = claims.get(f"{_LEGACY}namespace", "")
        secret = self.store.find(SECRETS, namespace, claims.get(f"{_LEGACY}secret.name", ""))
        if secret is None or secret["metadata"].get("deletionTimestamp"):
            return None
        stored = (secret.get("data") or {}).get("token", "")
        if base64.b64decode(stored or "").decode(errors="replace") != token:
            return None
        sa = self._live(
            SERVICE_ACCOUNTS,
            namespace,
            claims.get(f"{_LEGACY}service-account.name", ""),
            claims.get(f"{_LEGACY}service-account.uid", ""),
        )
        if sa is None:
            return None
        legacy = {"authentication.kubernetes.io/legacy-token": (secret["metadata"]["name"],)}
        return self._user(sa, legacy)

    @staticmethod
    def _user(sa: Obj, extra: Mapping[str, tuple[str, ...]]) -> UserInfo:
        meta = sa["metadata"]
        groups = (*service_account_groups(meta["namespace"]), AUTHENTICATED)
        username = service_account_username(meta["namespace"], meta["name"])
        return UserInfo(username, groups, meta["uid"], extra)
