"""Pure pieces of the sandbox's auth: request attributes, RBAC rule matching, token checks."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.authn import LOOPBACK_ADMIN, Authenticator, UserInfo
from pipeline.sandbox.apiserver.messages import Request
from pipeline.sandbox.apiserver.operations import Operations
from pipeline.sandbox.apiserver.rbac import rule_allows
from pipeline.sandbox.apiserver.requestinfo import Attributes, request_attributes
from pipeline.sandbox.apiserver.resources import served
from pipeline.sandbox.apiserver.store import Store
from pipeline.sandbox.apiserver.tokens import TokenSigner, bound_claims

USER = UserInfo("u", ("system:authenticated",))


def attrs_of(method: str, url: str) -> tuple[str, ...]:
    path, _, query = url.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&") if p)
    a = request_attributes(Request(method, path, params, {}), USER)
    if not a.resource_request:
        return (a.verb, a.path)
    return (a.verb, a.namespace, a.api_group, a.resource, a.subresource, a.name)


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "/api/v1/namespaces/a/pods", ("list", "a", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/a/pods?watch=true", ("watch", "a", "", "pods", "", "")),
        ("GET", "/api/v1/watch/namespaces/a/pods", ("watch", "a", "", "pods", "", "")),
        ("GET", "/api/v1/pods?watch=0", ("list", "", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/a/pods/p", ("get", "a", "", "pods", "", "p")),
        ("GET", "/api/v1/namespaces/a/pods/p?watch=1", ("watch", "a", "", "pods", "", "p")),
        ("GET", "/api/v1/namespaces/a/pods/p/log", ("get", "a", "", "pods", "log", "p")),
        ("POST", "/api/v1/namespaces/a/pods", ("create", "a", "", "pods", "", "")),
        ("PUT", "/apis/apps/v1/namespaces/a/deployments/d/status",
         ("update", "a", "apps", "deployments", "status", "d")),
        ("PATCH", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/x",
         ("patch", "argocd", "argoproj.io", "applications", "", "x")),
        ("DELETE", "/api/v1/namespaces/a/pods/p", ("delete", "a", "", "pods", "", "p")),
        ("DELETE", "/api/v1/namespaces/a/pods", ("deletecollection", "a", "", "pods", "", "")),
        ("GET", "/api/v1/namespaces/a", ("get", "a", "", "namespaces", "", "a")),
        ("PUT", "/api/v1/namespaces/a/status", ("update", "a", "", "namespaces", "status", "a")),
        ("GET", "/api/v1/namespaces", ("list", "", "", "namespaces", "", "")),
        ("GET", "/api/v1/namespaces/a/pods?fieldSelector=metadata.name=p",
         ("list", "a", "", "pods", "", "p")),
        ("GET", "/api/v1/namespaces/a/pods?fieldSelector=metadata.name!=p",
         ("list", "a", "", "pods", "", "")),
        ("POST", "/api/v1/namespaces/ci/serviceaccounts/sa/token",
         ("create", "ci", "", "serviceaccounts", "token", "sa")),
        ("GET", "/api/v1", ("get", "/api/v1")),
        ("GET", "/apis/apps/v1", ("get", "/apis/apps/v1")),
        ("GET", "/version", ("get", "/version")),
        ("POST", "/sandbox/v1/pods", ("post", "/sandbox/v1/pods")),
    ],
)  # fmt: skip
def test_request_attributes(method: str, url: str, expected: tuple[str, ...]) -> None:
    assert attrs_of(method, url) == expected


def resource(verb: str, group: str, res: str, sub: str = "", name: str = "") -> Attributes:
    return Attributes(USER, verb, True, "", "ns", group, "v1", res, sub, name)


@pytest.mark.parametrize(
    ("rule", "request_", "allowed"),
    [
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
         resource("get", "", "pods", name="p"), True),
        ({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
         resource("patch", "argoproj.io", "applications", name="x"), True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
         resource("get", "", "pods", "log", "p"), False),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]},
         resource("get", "", "pods", "log", "p"), True),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["*/log"]},
         resource("get", "", "pods", "log", "p"), True),
        ({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["pods"]},
         resource("get", "", "pods", name="p"), False),
        ({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]},
         resource("list", "", "pods"), False),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"]},
         resource("get", "", "pods", name="q"), False),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis/*"]},
         Attributes(USER, "get", False, "/apis/apps/v1"), True),
        ({"verbs": ["get"], "nonResourceURLs": ["/apis"]},
         Attributes(USER, "get", False, "/apis/apps"), False),
        ({"verbs": ["get"], "nonResourceURLs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
         Attributes(USER, "post", False, "/x"), False),
    ],
)  # fmt: skip
def test_rule_allows(rule: dict[str, Any], request_: Attributes, allowed: bool) -> None:
    assert rule_allows(request_, rule) is allowed


def test_bound_token_expiry_and_forgery() -> None:
    store = Store()
    ops = Operations(store)
    ops.create(served("", "v1", "namespaces"), "", {"metadata": {"name": "ci"}})
    sa = store.get(served("", "v1", "serviceaccounts"), "ci", "default")
    signer = TokenSigner(b"k" * 32)
    now = [1_000_000.0]
    authn = Authenticator(store, signer, clock=lambda: now[0])
    token = signer.sign(
        bound_claims(sa, ["https://kubernetes.default.svc.cluster.local"], 1_000_000, 600, None)
    )
    headers = {"authorization": f"Bearer {token}"}
    assert authn.authenticate(headers).name == "system:serviceaccount:ci:default"
    assert authn.authenticate({}) == LOOPBACK_ADMIN
    assert authn.authenticate({}, secure=True).name == "system:anonymous"
    other_key = TokenSigner(b"x" * 32).sign(
        bound_claims(sa, ["https://kubernetes.default.svc.cluster.local"], 1_000_000, 600, None)
    )
    for bad in (other_key, token[:-2] + "AA"):
        with pytest.raises(st.ApiStatusError) as err:
            authn.authenticate({"authorization": f"Bearer {bad}"})
        assert err.value.code == 401
    now[0] += 600
    with pytest.raises(st.ApiStatusError) as err:
        authn.authenticate(headers)
    assert err.value.code == 401
