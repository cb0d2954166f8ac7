"""Authentication and RBAC of the sandbox API server (raw HTTP and the Python client)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client
from kubernetes.client import ApiException

from pipeline.sandbox.apiserver import APIServer

Obj = dict[str, Any]
SA_USER = "system:serviceaccount:ci:deployer"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


class Cluster:
    """Admin calls (no credentials) and calls as the ServiceAccount ci/deployer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.post("/api/v1/namespaces", {"metadata": {"name": "ci"}})
        self.post("/api/v1/namespaces", {"metadata": {"name": "auth"}})
        self.post("/api/v1/namespaces/ci/serviceaccounts", {"metadata": {"name": "deployer"}})
        self.token = self.token_for("deployer")

    def post(self, path: str, body: Obj, token: str | None = None) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=_auth(token), timeout=5)

    def admin_post(self, path: str, body: Obj) -> Obj:
        resp = self.post(path, body)
        assert resp.status_code == 201, resp.text
        result: Obj = resp.json()
        return result

    def token_for(self, sa: str, namespace: str = "ci", **spec: Any) -> str:
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token"
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        return str(self.admin_post(path, body)["status"]["token"])

    def as_sa(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        headers = _auth(self.token) | kw.pop("headers", {})
        data = None if body is None else json.dumps(body)
        return requests.request(
            method, self.url + path, data=data, headers=headers, timeout=5, **kw
        )

    def role(self, namespace: str, name: str, rules: list[Obj], cluster: bool = False) -> None:
        path = f"{RBAC}/clusterroles" if cluster else f"{RBAC}/namespaces/{namespace}/roles"
        self.admin_post(path, {"metadata": {"name": name}, "rules": rules})

    def bind(self, namespace: str, role: str, kind: str = "Role", name: str = "") -> None:
        body = {
            "metadata": {"name": name or f"{role}-binding"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}],
        }
        if namespace:
            self.admin_post(f"{RBAC}/namespaces/{namespace}/rolebindings", body)
        else:
            self.admin_post(f"{RBAC}/clusterrolebindings", body)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def rule(verbs: list[str], group: str, *resources: str, names: list[str] | None = None) -> Obj:
    found: Obj = {"verbs": verbs, "apiGroups": [group], "resources": list(resources)}
    if names:
        found["resourceNames"] = names
    return found


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    srv = APIServer()
    srv.start()
    yield Cluster(srv.url)
    srv.stop()


def application(name: str) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {"project": "default", "source": {"repoURL": "/git"}},
    }


def forbidden_body(message: str, details: Obj) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }


def whoami(cluster: Cluster, token: str | None) -> Obj:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    resp = cluster.post("/apis/authentication.k8s.io/v1/selfsubjectreviews", body, token)
    assert resp.status_code == 201, resp.text
    info: Obj = resp.json()["status"]["userInfo"]
    return info


def test_no_credentials_is_the_loopback_admin(cluster: Cluster) -> None:
    info = whoami(cluster, None)
    assert info == {
        "username": "system:admin",
        "groups": ["system:masters", "system:authenticated"],
    }


def test_token_request_identifies_the_service_account(cluster: Cluster) -> None:
    info = whoami(cluster, cluster.token)
    sa = requests.get(cluster.url + "/api/v1/namespaces/ci/serviceaccounts/deployer", timeout=5)
    assert info["username"] == SA_USER
    assert info["uid"] == sa.json()["metadata"]["uid"]
    assert info["groups"] == [
        "system:serviceaccounts",
        "system:serviceaccounts:ci",
        "system:authenticated",
    ]


def test_token_request_response_and_validation(cluster: Cluster) -> None:
    path = "/api/v1/namespaces/ci/serviceaccounts/deployer/token"
    resp = cluster.post(path, {"spec": {}})
    assert resp.status_code == 201
    body = resp.json()
    assert body["kind"] == "TokenRequest"
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    assert body["metadata"] == {"name": "deployer", "namespace": "ci", "creationTimestamp": None}
    assert body["spec"]["audiences"] == ["https://kubernetes.default.svc.cluster.local"]
    assert body["spec"]["expirationSeconds"] == 3600
    short = cluster.post(path, {"spec": {"expirationSeconds": 60}})
    assert short.status_code == 422
    assert short.json()["message"] == (
        'TokenRequest.authentication.k8s.io "deployer" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )
    missing = cluster.post("/api/v1/namespaces/ci/serviceaccounts/nobody/token", {})
    assert missing.status_code == 404
    assert missing.json()["message"] == 'serviceaccounts "nobody" not found'


@pytest.mark.parametrize(
    "token", ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"], ids=["opaque", "dots", "jwt"]
)
def test_invalid_token_is_401(cluster: Cluster, token: str) -> None:
    resp = requests.get(cluster.url + "/api/v1/pods", headers=_auth(token), timeout=5)
    assert resp.status_code == 401
    assert resp.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_token_for_another_audience_is_401(cluster: Cluster) -> None:
    vault = cluster.token_for("deployer", audiences=["vault"])
    assert requests.get(cluster.url + "/api", headers=_auth(vault), timeout=5).status_code == 401


def test_deleting_the_service_account_invalidates_its_tokens(cluster: Cluster) -> None:
    sa_path = "/api/v1/namespaces/ci/serviceaccounts/deployer"
    assert cluster.as_sa("GET", "/api").status_code == 200
    assert requests.delete(cluster.url + sa_path, timeout=5).status_code == 200
    assert cluster.as_sa("GET", "/api").status_code == 401
    # a new ServiceAccount of the same name has a new uid: the old token stays invalid
    cluster.admin_post("/api/v1/namespaces/ci/serviceaccounts", {"metadata": {"name": "deployer"}})
    assert cluster.as_sa("GET", "/api").status_code == 401


def test_discovery_is_allowed_for_every_token(cluster: Cluster) -> None:
    for path in ("/version", "/api", "/api/v1", "/apis", "/apis/apps/v1", "/openapi/v3"):
        assert cluster.as_sa("GET", path).status_code == 200, path
    resp = cluster.as_sa("GET", "/metrics")
    assert resp.status_code == 403
    assert resp.json() == forbidden_body(
        f'forbidden: User "{SA_USER}" cannot get path "/metrics"', {}
    )


def _verb_request(cluster: Cluster, verb: str) -> requests.Response:
    """One request per verb against Applications in argocd (the app "web" exists)."""
    item = f"{APPS}/web"
    merge = {"Content-Type": "application/merge-patch+json"}
    if verb == "get":
        return cluster.as_sa("GET", item)
    if verb == "list":
        return cluster.as_sa("GET", APPS)
    if verb == "watch":
        return cluster.as_sa("GET", APPS, params={"watch": "true", "timeoutSeconds": "1"})
    if verb == "create":
        return cluster.as_sa("POST", APPS, application("new"))
    if verb == "update":
        current = requests.get(cluster.url + item, timeout=5).json()
        return cluster.as_sa("PUT", item, current)
    if verb == "patch":
        return cluster.as_sa("PATCH", item, {"metadata": {"labels": {"a": "b"}}}, headers=merge)
    if verb == "delete":
        return cluster.as_sa("DELETE", item)
    return cluster.as_sa("DELETE", APPS)


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_needs_exactly_its_rbac_verb(cluster: Cluster, verb: str) -> None:
    cluster.admin_post(APPS, application("web"))
    others = [v for v in VERBS if v != verb]
    cluster.role("argocd", "all-but", [rule(others, "argoproj.io", "applications")])
    cluster.bind("argocd", "all-but")
    denied = _verb_request(cluster, verb)
    assert denied.status_code == 403
    named = verb in ("get", "update", "patch", "delete")
    target = 'applications.argoproj.io "web"' if named else "applications.argoproj.io"
    details = {"name": "web"} if named else {}
    assert denied.json() == forbidden_body(
        f'{target} is forbidden: User "{SA_USER}" cannot {verb} resource "applications" in '
        'API group "argoproj.io" in the namespace "argocd"',
        details | {"group": "argoproj.io", "kind": "applications"},
    )
    cluster.role("argocd", "only", [rule([verb], "argoproj.io", "applications")])
    cluster.bind("argocd", "only")
    allowed = _verb_request(cluster, verb)
    assert allowed.status_code in (200, 201), allowed.text


def test_list_without_name_and_cluster_scope_messages(cluster: Cluster) -> None:
    pods = cluster.as_sa("GET", "/api/v1/namespaces/auth/pods")
    assert pods.json()["message"] == (
        f'pods is forbidden: User "{SA_USER}" cannot list resource "pods" in API group "" in '
        'the namespace "auth"'
    )
    assert pods.json()["details"] == {"kind": "pods"}
    roles = cluster.as_sa("GET", f"{RBAC}/clusterroles/view")
    assert roles.json() == forbidden_body(
        f'clusterroles.rbac.authorization.k8s.io "view" is forbidden: User "{SA_USER}" cannot '
        'get resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster '
        "scope",
        {"name": "view", "group": "rbac.authorization.k8s.io", "kind": "clusterroles"},
    )
    all_pods = cluster.as_sa("GET", "/api/v1/pods")
    assert all_pods.json()["message"] == (
        f'pods is forbidden: User "{SA_USER}" cannot list resource "pods" in API group "" at '
        "the cluster scope"
    )


def test_subresources_are_separate_resources(cluster: Cluster) -> None:
    cluster.admin_post(
        "/api/v1/namespaces/auth/pods",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
    )
    cluster.role("auth", "pods", [rule(["get"], "", "pods")])
    cluster.bind("auth", "pods")
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth/pods/p").status_code == 200
    log = cluster.as_sa("GET", "/api/v1/namespaces/auth/pods/p/log")
    assert log.status_code == 403
    assert log.json() == forbidden_body(
        f'pods "p" is forbidden: User "{SA_USER}" cannot get resource "pods/log" in API group '
        '"" in the namespace "auth"',
        {"name": "p", "kind": "pods"},
    )
    cluster.role("auth", "logs", [rule(["get"], "", "pods/log")])
    cluster.bind("auth", "logs")
    # authorized now; the pod has no log yet, so the handler's own 400 comes through
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth/pods/p/log").status_code == 400


def test_star_subresource_rule(cluster: Cluster) -> None:
    cluster.role("auth", "status", [rule(["get"], "apps", "*/status")])
    cluster.bind("auth", "status")
    status = cluster.as_sa("GET", "/apis/apps/v1/namespaces/auth/deployments/web/status")
    assert status.status_code == 404  # authorized; the deployment does not exist
    assert cluster.as_sa("GET", "/apis/apps/v1/namespaces/auth/deployments/web").status_code == 403


def test_watch_requires_the_watch_verb(cluster: Cluster) -> None:
    cluster.role("argocd", "list", [rule(["list"], "argoproj.io", "applications")])
    cluster.bind("argocd", "list")
    assert cluster.as_sa("GET", APPS).status_code == 200
    watch = cluster.as_sa("GET", APPS, params={"watch": "1", "timeoutSeconds": "1"})
    assert watch.status_code == 403
    assert "cannot watch resource" in watch.json()["message"]
    prefixed = cluster.as_sa(
        "GET", "/apis/argoproj.io/v1alpha1/watch/namespaces/argocd/applications"
    )
    assert prefixed.status_code == 403


def test_resource_names_apply_only_to_named_requests(cluster: Cluster) -> None:
    cluster.admin_post(APPS, application("web"))
    cluster.admin_post(APPS, application("other"))
    read = rule(["get", "list", "watch"], "argoproj.io", "applications", names=["web"])
    cluster.role("argocd", "one", [read])
    cluster.bind("argocd", "one")
    assert cluster.as_sa("GET", f"{APPS}/web").status_code == 200
    other = cluster.as_sa("GET", f"{APPS}/other")
    assert other.status_code == 403
    assert other.json()["details"]["name"] == "other"
    assert cluster.as_sa("GET", APPS).status_code == 403
    by_name = cluster.as_sa("GET", APPS, params={"fieldSelector": "metadata.name=web"})
    assert by_name.status_code == 200
    assert [a["metadata"]["name"] for a in by_name.json()["items"]] == ["web"]
    assert cluster.as_sa("POST", APPS, application("web2")).status_code == 403


def test_rolebinding_to_a_clusterrole_is_scoped_to_its_namespace(cluster: Cluster) -> None:
    cluster.bind("auth", "view", kind="ClusterRole")
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth/pods").status_code == 200
    assert cluster.as_sa("GET", "/api/v1/namespaces/default/pods").status_code == 403
    assert cluster.as_sa("GET", "/api/v1/pods").status_code == 403
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth/secrets").status_code == 403  # view


def test_clusterrolebinding_grants_everywhere(cluster: Cluster) -> None:
    cluster.role("", "pod-reader", [rule(["list"], "", "pods")], cluster=True)
    cluster.bind("", "pod-reader", kind="ClusterRole")
    for path in ("/api/v1/namespaces/auth/pods", "/api/v1/namespaces/kube-system/pods"):
        assert cluster.as_sa("GET", path).status_code == 200
    assert cluster.as_sa("GET", "/api/v1/pods").status_code == 200


def test_subjects_user_group_and_namespace_defaulting(cluster: Cluster) -> None:
    cluster.role("auth", "pods", [rule(["list"], "", "pods")])
    path = f"{RBAC}/namespaces/auth/rolebindings"
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pods"}
    body: Obj = {"metadata": {"name": "by-group"}, "roleRef": ref}
    body["subjects"] = [{"kind": "Group", "name": "system:serviceaccounts:ci"}]
    cluster.admin_post(path, body)
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth/pods").status_code == 200
    # a ServiceAccount subject without a namespace means the binding's namespace
    token = cluster.token_for("default", namespace="auth")
    sa_body: Obj = {"metadata": {"name": "local-sa"}, "roleRef": ref}
    sa_body["subjects"] = [{"kind": "ServiceAccount", "name": "default"}]
    pods = cluster.url + "/api/v1/namespaces/auth/pods"
    assert requests.get(pods, headers=_auth(token), timeout=5).status_code == 403
    cluster.admin_post(path, sa_body)
    assert requests.get(pods, headers=_auth(token), timeout=5).status_code == 200


def test_missing_role_becomes_the_denial_reason(cluster: Cluster) -> None:
    cluster.bind("auth", "nope")
    resp = cluster.as_sa("GET", "/api/v1/namespaces/auth/pods")
    assert resp.json()["message"] == (
        f'pods is forbidden: User "{SA_USER}" cannot list resource "pods" in API group "" in '
        'the namespace "auth": RBAC: role.rbac.authorization.k8s.io "nope" not found'
    )


def test_namespace_object_is_authorized_in_its_own_namespace(cluster: Cluster) -> None:
    cluster.role("auth", "ns", [rule(["get"], "", "namespaces")])
    cluster.bind("auth", "ns")
    assert cluster.as_sa("GET", "/api/v1/namespaces/auth").status_code == 200
    other = cluster.as_sa("GET", "/api/v1/namespaces/ci")
    assert other.json()["message"] == (
        f'namespaces "ci" is forbidden: User "{SA_USER}" cannot get resource "namespaces" in '
        'API group "" in the namespace "ci"'
    )


def test_self_subject_access_review(cluster: Cluster) -> None:
    cluster.role("argocd", "patcher", [rule(["get", "patch"], "argoproj.io", "applications")])
    cluster.bind("argocd", "patcher", name="deployer-patcher")
    path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

    def review(verb: str, namespace: str = "argocd") -> Obj:
        attrs = {"namespace": namespace, "verb": verb, "group": "argoproj.io"}
        body = {"spec": {"resourceAttributes": attrs | {"resource": "applications"}}}
        resp = cluster.post(path, body, cluster.token)
        assert resp.status_code == 201, resp.text
        status: Obj = resp.json()["status"]
        return status

    assert review("patch") == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "deployer-patcher/argocd" of Role "patcher" to '
        'ServiceAccount "deployer/ci"',
    }
    assert review("delete") == {"allowed": False}
    assert review("patch", namespace="default") == {"allowed": False}
    non_resource = {"spec": {"nonResourceAttributes": {"path": "/version", "verb": "get"}}}
    resp = cluster.post(path, non_resource, cluster.token)
    assert resp.json()["status"]["allowed"] is True
    assert cluster.post(path, {"spec": {}}, cluster.token).status_code == 422


def test_legacy_token_secret(cluster: Cluster) -> None:
    secrets = "/api/v1/namespaces/ci/secrets"
    secret = cluster.admin_post(
        secrets,
        {
            "metadata": {
                "name": "deployer-token",
                "annotations": {"kubernetes.io/service-account.name": "deployer"},
            },
            "type": "kubernetes.io/service-account-token",
        },
    )
    sa = requests.get(cluster.url + "/api/v1/namespaces/ci/serviceaccounts/deployer", timeout=5)
    uid = sa.json()["metadata"]["uid"]
    annotations = secret["metadata"]["annotations"]
    assert annotations["kubernetes.io/service-account.uid"] == uid
    assert sorted(secret["data"]) == ["namespace", "token"]  # no root CA configured
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert whoami(cluster, token)["username"] == SA_USER
    unannotated = cluster.post(
        secrets, {"metadata": {"name": "x"}, "type": "kubernetes.io/service-account-token"}
    )
    assert unannotated.status_code == 422
    # deleting the ServiceAccount deletes its token Secrets (the token controller)
    requests.delete(cluster.url + "/api/v1/namespaces/ci/serviceaccounts/deployer", timeout=5)
    gone = requests.get(cluster.url + f"{secrets}/deployer-token", timeout=5)
    assert gone.status_code == 404
    assert whoami_status(cluster, token) == 401


def whoami_status(cluster: Cluster, token: str) -> int:
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
    return cluster.post(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews", body, token
    ).status_code


def test_impersonation(cluster: Cluster) -> None:
    headers = {"Impersonate-User": SA_USER}
    resp = requests.get(cluster.url + "/api/v1/namespaces/auth/pods", headers=headers, timeout=5)
    assert resp.status_code == 403
    assert f'User "{SA_USER}" cannot list' in resp.json()["message"]
    by_sa = cluster.as_sa("GET", "/api/v1/pods", headers={"Impersonate-User": "bob"})
    assert by_sa.json() == forbidden_body(
        f'users "bob" is forbidden: User "{SA_USER}" cannot impersonate resource "users" in '
        'API group "" at the cluster scope',
        {"name": "bob", "kind": "users"},
    )


def test_python_client_with_bearer_token(cluster: Cluster) -> None:
    cluster.admin_post(APPS, application("web"))
    cluster.role("argocd", "reader", [rule(["get", "list"], "argoproj.io", "applications")])
    cluster.bind("argocd", "reader")
    cfg = client.Configuration()
    cfg.host = cluster.url
    cfg.api_key = {"authorization": f"Bearer {cluster.token}"}
    with client.ApiClient(cfg) as api_client:
        custom: Any = client.CustomObjectsApi(api_client)
        app = custom.get_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argocd", "applications", "web"
        )
        assert app["metadata"]["name"] == "web"
        with pytest.raises(ApiException) as err:
            custom.patch_namespaced_custom_object(
                "argoproj.io", "v1alpha1", "argocd", "applications", "web", {"spec": {}}
            )
        assert err.value.status == 403
        assert json.loads(str(err.value.body))["message"] == (
            f'applications.argoproj.io "web" is forbidden: User "{SA_USER}" cannot patch '
            'resource "applications" in API group "argoproj.io" in the namespace "argocd"'
        )
