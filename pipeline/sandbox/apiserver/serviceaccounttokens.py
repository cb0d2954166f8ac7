"""Issuing ServiceAccount tokens: the TokenRequest API and legacy token Secrets.

- ``POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`` (``kubectl create token``):
  ``pkg/registry/core/serviceaccount/storage/token.go`` Create. Body ``authentication.k8s.io/v1
  TokenRequest``; ``spec.audiences`` defaults to the API server's audience,
  ``spec.expirationSeconds`` to 3600 (``SetDefaults_TokenRequestSpec``) and must be at least
  600 (422, ``ValidateTokenRequest``); an optional ``spec.boundObjectRef`` (Pod or Secret)
  binds the token to that object's uid too. 201 with ``status.token`` and
  ``status.expirationTimestamp``; 404 for a missing ServiceAccount.
- Secrets of type ``kubernetes.io/service-account-token`` annotated
  ``kubernetes.io/service-account.name``: the token controller
  (``pkg/controller/serviceaccount/tokens_controller.go``) fills ``data.token``,
  ``data.namespace``, ``data["ca.crt"]`` (only when the server has a root CA, like
  ``--root-ca-file``) and the ``kubernetes.io/service-account.uid`` annotation. Here that
  happens in the create request itself; a Secret naming a missing ServiceAccount stays
  unpopulated (upstream the controller deletes it). Deleting the ServiceAccount deletes its
  token Secrets (the controller's ``deleteTokens``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authn import PODS, SECRETS, SERVICE_ACCOUNTS
from pipeline.sandbox.apiserver.endpoints import decode_body
from pipeline.sandbox.apiserver.messages import Request, Response
from pipeline.sandbox.apiserver.resources import ResourceType
from pipeline.sandbox.apiserver.routing import Route
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tokens import (
    API_AUDIENCE,
    TokenSigner,
    bound_claims,
    legacy_claims,
)

Obj = dict[str, Any]
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
SA_UID_ANNOTATION = "kubernetes.io/service-account.uid"
DEFAULT_EXPIRATION = 3600
MIN_EXPIRATION = 600
MAX_EXPIRATION = 1 << 32
_BOUND_KINDS = {"Pod": PODS, "Secret": SECRETS}


def _invalid(name: str, field: str, message: str) -> st.ApiStatusError:
    return st.ApiStatusError(
        422,
        "Invalid",
        f'TokenRequest.authentication.k8s.io "{name}" is invalid: {field}: {message}',
        {
            "name": name,
            "group": "authentication.k8s.io",
            "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message": message, "field": field}],
        },
    )


class TokenIssuer:
    def __init__(
        self,
        store: Store,
        signer: TokenSigner,
        root_ca: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.signer = signer
        self.root_ca = root_ca
        self.clock = clock

    def token_request(self, req: Request, route: Route) -> Response:
        if req.method != "POST":
            raise st.method_not_allowed()
        assert route.name is not None
        namespace, name = route.store_namespace, route.name
        body = decode_body(req, "TokenRequest")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, "", name):
            raise _invalid(name, "metadata.name", f'Invalid value: "{meta["name"]}": must match '
                           "the service account name if specified")  # fmt: skip
        spec = body.get("spec") or {}
        expires_in = spec.get("expirationSeconds") or DEFAULT_EXPIRATION
        if not isinstance(expires_in, int) or expires_in < MIN_EXPIRATION:
            raise _invalid(name, "spec.expirationSeconds", f"Invalid value: {expires_in}: may "
                           "not specify a duration less than 10 minutes")  # fmt: skip
        if expires_in > MAX_EXPIRATION:
            raise _invalid(name, "spec.expirationSeconds", f"Invalid value: {expires_in}: may "
                           "not specify a duration larger than 2^32 seconds")  # fmt: skip
        sa = self.store.get(SERVICE_ACCOUNTS, namespace, name)
        audiences = list(spec.get("audiences") or [API_AUDIENCE])
        bound = self._bound_object(namespace, name, spec.get("boundObjectRef"))
        now = int(self.clock())
        token = self.signer.sign(bound_claims(sa, audiences, now, expires_in, bound))
        expiry = datetime.fromtimestamp(now + expires_in, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out_spec: Obj = {"audiences": audiences, "expirationSeconds": expires_in}
        out_spec["boundObjectRef"] = spec.get("boundObjectRef")
        return Response.json(
            201,
            {
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                "spec": out_spec,
                "status": {"token": token, "expirationTimestamp": expiry},
            },
        )

    def _bound_object(self, namespace: str, sa_name: str, ref: Any) -> Obj | None:
        if not ref:
            return None
        kind = ref.get("kind", "")
        rt = _BOUND_KINDS.get(kind)
        if rt is None:
            raise _invalid(sa_name, "spec.boundObjectRef.kind", f'Unsupported value: "{kind}": '
                           'supported values: "Pod", "Secret"')  # fmt: skip
        obj = self.store.get(rt, namespace, ref.get("name", ""))
        uid = obj["metadata"]["uid"]
        if ref.get("uid") not in (None, "", uid):
            raise st.conflict(rt, ref["name"], f"the UID in the bound object reference "
                              f"({ref['uid']}) does not match the UID in record ({uid}). The "
                              "object might have been deleted and then recreated")  # fmt: skip
        return {"kind": kind, "name": ref["name"], "uid": uid}

    def populate_token_secret(self, rt: ResourceType, obj: Obj) -> None:
        """Admission-time stand-in for the token controller (see the module docstring)."""
        if rt.kind != "Secret" or obj.get("type") != TOKEN_SECRET_TYPE:
            return
        meta = obj["metadata"]
        annotations = meta.get("annotations") or {}
        sa_name = annotations.get(SA_NAME_ANNOTATION)
        if not sa_name:
            raise st.invalid(
                rt,
                meta.get("name", ""),
                [(f"metadata.annotations[{SA_NAME_ANNOTATION}]", "Required value")],
            )
        sa = self.store.find(SERVICE_ACCOUNTS, meta["namespace"], sa_name)
        if sa is None:
            return
        token = self.signer.sign(legacy_claims(sa, meta["name"]))
        data = obj.setdefault("data", {})
        data["token"] = base64.b64encode(token.encode()).decode()
        data["namespace"] = base64.b64encode(meta["namespace"].encode()).decode()
        if self.root_ca:
            data["ca.crt"] = base64.b64encode(self.root_ca).decode()
        meta.setdefault("annotations", {})[SA_UID_ANNOTATION] = sa["metadata"]["uid"]

    def token_secrets_of(self, rt: ResourceType, sa: Obj) -> list[tuple[ResourceType, Obj]]:
        """The legacy token Secrets the controller deletes with their ServiceAccount."""
        if rt.kind != "ServiceAccount":
            return []
        meta = sa["metadata"]
        items, _ = self.store.list_objects(SECRETS, meta["namespace"], lambda _: True)
        found: list[tuple[ResourceType, Obj]] = []
        for secret in items:
            annotations = secret["metadata"].get("annotations") or {}
            if (
                secret.get("type") == TOKEN_SECRET_TYPE
                and annotations.get(SA_NAME_ANNOTATION) == meta["name"]
                and annotations.get(SA_UID_ANNOTATION) in (None, meta["uid"])
            ):
                found.append((SECRETS, secret))
        return found
