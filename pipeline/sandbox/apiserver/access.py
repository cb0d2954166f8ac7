"""The access gate in front of every handler: authenticate, impersonate, authorize.

Order and errors follow the apiserver's filter chain (``k8s.io/apiserver/pkg/server/config.go``
DefaultBuildHandlerChain): authentication (401), impersonation, authorization (403), then the
handler. Authorization happens before the path is resolved, so a forbidden request for a
resource that does not exist is still 403. ``system:masters`` passes without RBAC (the
privileged-group authorizer); the sandbox's loopback admin is in that group.
"""

from __future__ import annotations

from pipeline.sandbox.apiserver.authn import Authenticator, UserInfo
from pipeline.sandbox.apiserver.denial import forbidden
from pipeline.sandbox.apiserver.impersonation import impersonate
from pipeline.sandbox.apiserver.messages import Request
from pipeline.sandbox.apiserver.rbac import Decision, RBACAuthorizer
from pipeline.sandbox.apiserver.requestinfo import Attributes, request_attributes
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tokens import TokenSigner


class AccessControl:
    def __init__(self, store: Store, signer: TokenSigner) -> None:
        self.authenticator = Authenticator(store, signer)
        self.rbac = RBACAuthorizer(store)

    def authorize(self, attrs: Attributes) -> Decision:
        if attrs.user.is_superuser:
            return Decision(True)
        return self.rbac.authorize(attrs)

    def admit(self, req: Request) -> UserInfo:
        """The user a request runs as; 401 or 403 ``ApiStatusError`` when it may not run."""
        user = self.authenticator.authenticate(req.headers, req.secure)
        user = impersonate(req.headers, user, self.authorize)
        if user.is_superuser:
            return user
        attrs = request_attributes(req, user)
        decision = self.authorize(attrs)
        if not decision.allowed:
            raise forbidden(attrs, decision.reason)
        return user
