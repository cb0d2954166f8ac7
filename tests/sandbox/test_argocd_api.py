"""The sandbox Argo CD API server over real HTTP(S), backed by a real sandbox API server and
the sandbox application-controller (no kubelet): shapes, errors, auth and RBAC
(docs/sandbox-argocd-api.md; argo-cd server/application/application.go)."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.argocdapi import ArgoCDAPIServer, client, jwt
from pipeline.sandbox.argocdapi.identity import ServiceAccountClient, install_identity
from pipeline.sandbox.controllers.argocd import ArgoCDController
from pipeline.sandbox.daemon import serving_certificate
from pipeline.sandbox.kubeclient import KubeClient
from pipeline.sandbox.sample import SampleRepo, create_sample_repo
from tests.fixtures.waiting import wait_for

pytestmark = pytest.mark.integration
Obj = dict[str, Any]
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
PROJECTS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects"


@dataclass
class Env:
    kube: KubeClient
    url: str
    secure_url: str
    ca: Path
    sample: SampleRepo
    admin: str
    tokens: dict[str, str]

    def call(
        self, method: str, path: str, token: str | None = "admin", **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def head(self) -> str:
        git = ["git", "-C", str(self.sample.path), "rev-parse", "HEAD"]
        return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()

    def app(self, name: str) -> Obj:
        return self.kube.get(f"{APPS}/{name}")

    def create_app(self, name: str, project: str = "default", **spec: Any) -> Obj:
        app = copy.deepcopy(self.sample.app_manifest)
        app["metadata"] = {"name": name, "namespace": "argocd", "labels": {"suite": "argoapi"}}
        del app["spec"]["syncPolicy"]["automated"]
        app["spec"]["project"] = project
        app["spec"].update(spec)
        return self.kube.create(APPS, app)


def _error(resp: requests.Response, status: int, code: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json() == {"error": message, "code": code, "message": message, "details": []}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("argoapi")
    tls, ca = serving_certificate(tmp / "tls")
    api = APIServer(tls=tls, root_ca=ca.read_bytes())
    api.start()
    stop = threading.Event()
    kube = KubeClient(api.url, user_agent="tests")
    controller = ArgoCDController(
        KubeClient(api.url, user_agent="argocd-application-controller"), work_dir=tmp / "argocd"
    )
    thread = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    thread.start()
    identity = install_identity(kube)
    server = ArgoCDAPIServer(
        ServiceAccountClient(api.secure_url, identity, ca),
        tmp / "argocd-server",
        tls=tls,
        tree_kube=KubeClient(api.url, user_agent="argocd-application-controller"),
    )
    server.start()
    try:
        sample = create_sample_repo(tmp / "sample", registry="127.0.0.1:5999")
        admin = client.admin_token(kube, server.url)
        client.ensure_project_role(kube, "dev", "ci", ["get", "update", "sync"])
        client.ensure_project_role(kube, "dev", "nosync", ["get", "update"])
        tokens = {
            "admin": admin,
            "dev": client.project_token(server.url, admin, "dev", "ci"),
            "nosync": client.project_token(server.url, admin, "dev", "nosync"),
            "ci": client.account_token(server.url, admin, "ci"),
        }
        yield Env(kube, server.url, server.secure_url, ca, sample, admin, tokens)
    finally:
        server.stop()
        stop.set()
        thread.join(timeout=30)
        api.stop()


# --- session, version, auth ------------------------------------------------------------


def test_version_tells_anonymous_callers_only_the_version(env: Env) -> None:
    anonymous = env.call("GET", "/api/version", token=None).json()
    assert list(anonymous) == ["Version"]
    assert {"Version", "GitCommit", "Platform"} <= set(env.call("GET", "/api/version").json())


def test_session_login_userinfo_and_cookie(env: Env) -> None:
    password = client.admin_password(env.kube)
    resp = requests.post(
        f"{env.url}/api/v1/session", json={"username": "admin", "password": password}, timeout=30
    )
    assert resp.status_code == 200 and list(resp.json()) == ["token"]
    token = resp.json()["token"]
    info = env.call("GET", "/api/v1/session/userinfo", token=token).json()
    assert info == {"loggedIn": True, "username": "admin", "iss": "argocd"}
    by_cookie = requests.get(
        f"{env.url}/api/v1/session/userinfo", cookies={"argocd.token": token}, timeout=30
    )
    assert by_cookie.json()["username"] == "admin"
    assert env.call("GET", "/api/v1/session/userinfo", token=None).json() == {}
    bad = requests.post(
        f"{env.url}/api/v1/session", json={"username": "admin", "password": "nope"}, timeout=30
    )
    _error(bad, 401, 16, "Invalid username or password")
    unknown = requests.post(
        f"{env.url}/api/v1/session", json={"username": "who", "password": "x"}, timeout=30
    )
    _error(unknown, 401, 16, "Invalid username or password")
    # ci has apiKey only: no password login
    _error(
        requests.post(f"{env.url}/api/v1/session", json={"username": "ci"}, timeout=30),
        401,
        16,
        "no credentials supplied",
    )


def test_no_or_bad_token_is_unauthenticated(env: Env) -> None:
    _error(env.call("GET", "/api/v1/applications", token=None), 401, 16, "no session information")
    resp = env.call("GET", "/api/v1/applications", token="not-a-jwt")
    _error(resp, 401, 16, "invalid session: token contains an invalid number of segments")
    forged = env.tokens["admin"][:-4] + (
        "AAAA" if not env.tokens["admin"].endswith("AAAA") else "BBBB"
    )
    resp = env.call("GET", "/api/v1/applications", token=forged)
    assert resp.status_code == 401 and "signature is invalid" in resp.json()["message"]


def test_account_tokens_need_the_api_key_capability(env: Env) -> None:
    info = env.call("GET", "/api/v1/session/userinfo", token="ci").json()
    assert info == {"loggedIn": True, "username": "ci", "iss": "argocd"}
    resp = env.call("POST", "/api/v1/account/admin/token", json={"name": "admin"})
    _error(
        resp,
        500,
        2,
        "failed to update account with new token: account 'admin' does not have apiKey capability",
    )
    # the ci account cannot mint tokens for admin
    resp = env.call("POST", "/api/v1/account/admin/token", token="ci", json={})
    assert resp.status_code == 403 and resp.json()["code"] == 7


def test_unknown_route_is_grpc_gateway_not_found(env: Env) -> None:
    _error(env.call("GET", "/api/v1/nothing-here"), 404, 5, "Not Found")


# --- applications --------------------------------------------------------------------------


def test_get_and_list_shapes(env: Env) -> None:
    env.create_app("shape-a")
    env.create_app("shape-b", project="dev")
    got = env.call("GET", "/api/v1/applications/shape-a").json()
    assert "kind" not in got and "apiVersion" not in got
    assert got["metadata"]["name"] == "shape-a" and got["spec"]["project"] == "default"
    listing = env.call("GET", "/api/v1/applications", params={"selector": "suite=argoapi"}).json()
    assert set(listing) == {"metadata", "items"}
    assert listing["metadata"]["resourceVersion"]
    names = [a["metadata"]["name"] for a in listing["items"]]
    assert names == sorted(names) and {"shape-a", "shape-b"} <= set(names)
    only_dev = env.call("GET", "/api/v1/applications", params={"projects": "dev"}).json()
    assert {a["spec"]["project"] for a in only_dev["items"]} == {"dev"}
    other_ns = env.call("GET", "/api/v1/applications", params={"appNamespace": "default"})
    assert other_ns.json()["items"] == []


def test_missing_app_is_permission_denied_unless_a_project_is_given(env: Env) -> None:
    _error(env.call("GET", "/api/v1/applications/nope"), 403, 7, "permission denied")
    resp = env.call("GET", "/api/v1/applications/nope", params={"project": "default"})
    _error(resp, 404, 5, 'applications.argoproj.io "nope" not found')
    env.create_app("in-default")
    resp = env.call("GET", "/api/v1/applications/in-default", params={"project": "dev"})
    _error(resp, 404, 5, 'applications.argoproj.io "in-default" not found')
    resp = env.call("GET", "/api/v1/applications/x", params={"projects": ["a", "b"]})
    _error(
        resp,
        400,
        3,
        "multiple projects specified - the get endpoint accepts either zero or one project",
    )


def test_patch_persists_only_spec_labels_annotations_and_finalizers(env: Env) -> None:
    env.create_app("patched")
    merge = {
        "metadata": {"labels": {"team": "a"}, "annotations": {"note": "x"}},
        "spec": {"destination": {"namespace": "elsewhere"}},
        "status": {"sync": {"status": "Synced"}},
        "operation": {"sync": {"revision": "HEAD"}},
    }
    body = {"name": "patched", "patch": json.dumps(merge), "patchType": "merge"}
    resp = env.call("PATCH", "/api/v1/applications/patched", json=body)
    assert resp.status_code == 200, resp.text
    stored = env.app("patched")
    assert stored["spec"]["destination"]["namespace"] == "elsewhere"
    assert stored["metadata"]["labels"]["team"] == "a"
    assert stored["metadata"]["annotations"]["note"] == "x"
    assert "operation" not in stored
    ops = [{"op": "replace", "path": "/spec/destination/namespace", "value": "third"}]
    body = {"name": "patched", "patch": json.dumps(ops)}  # patchType "" means json
    assert env.call("PATCH", "/api/v1/applications/patched", json=body).status_code == 200
    assert env.app("patched")["spec"]["destination"]["namespace"] == "third"
    not_a_string: Obj = {"name": "patched", "patch": {"spec": {}}, "patchType": "merge"}
    resp = env.call("PATCH", "/api/v1/applications/patched", json=not_a_string)
    assert resp.status_code == 400 and resp.json()["code"] == 3
    assert resp.json()["message"].startswith("json: cannot unmarshal object")
    body = {"name": "patched", "patch": "{}", "patchType": "strategic"}
    resp = env.call("PATCH", "/api/v1/applications/patched", json=body)
    _error(resp, 400, 3, "Patch type 'strategic' is not supported")
    bad = {
        "name": "patched",
        "patch": json.dumps([{"op": "test", "path": "/spec/project", "value": "x"}]),
    }
    resp = env.call("PATCH", "/api/v1/applications/patched", json=bad)
    assert resp.status_code == 500 and resp.json()["message"].startswith("error applying patch: ")


def test_sync_writes_the_operation_like_set_app_operation(env: Env) -> None:
    env.create_app("synced", project="dev")
    body = {
        "name": "synced",
        "prune": True,
        "strategy": {"hook": {}},
        "infos": [{"name": "pipeline-run", "value": "gh-1"}],
        "syncOptions": {"items": ["CreateNamespace=true", "ApplyOutOfSyncOnly=true"]},
    }
    resp = env.call("POST", "/api/v1/applications/synced/sync", token="dev", json=body)
    assert resp.status_code == 200, resp.text
    app = resp.json()
    sha = env.head()
    op = app["operation"]
    assert op["initiatedBy"] == {"username": "proj:dev:ci"}
    assert op["info"] == [{"name": "pipeline-run", "value": "gh-1"}]
    assert op["retry"] == {}
    assert op["sync"] == {
        "source": app["spec"]["source"],
        "revision": sha,
        "prune": True,
        "syncOptions": ["CreateNamespace=true", "ApplyOutOfSyncOnly=true"],
        "syncStrategy": {"hook": {}},
    }
    assert "operationState" not in (app.get("status") or {})

    def succeeded() -> Obj | None:
        state = (env.app("synced").get("status") or {}).get("operationState") or {}
        return state if state.get("phase") == "Succeeded" else None

    state = wait_for("the sync to succeed", succeeded)
    assert state["operation"]["info"] == [{"name": "pipeline-run", "value": "gh-1"}]
    assert state["syncResult"]["revision"] == sha
    events = env.call("GET", "/api/v1/applications/synced/events", token="dev").json()
    reasons = {(e["reason"], e["message"]) for e in events["items"]}
    assert ("OperationStarted", f"proj:dev:ci initiated sync to HEAD ({sha})") in reasons
    assert all(e["involvedObject"]["name"] == "synced" for e in events["items"])


def test_partial_dry_run_sync_and_defaults_from_the_sync_policy(env: Env) -> None:
    retry = {"limit": 2}
    env.create_app("partial", syncPolicy={"syncOptions": ["CreateNamespace=true"], "retry": retry})
    resources = [{"group": "apps", "kind": "Deployment", "name": "auth-api", "namespace": "auth"}]
    body = {"dryRun": True, "resources": resources, "revision": env.head()}
    resp = env.call("POST", "/api/v1/applications/partial/sync", json=body)
    assert resp.status_code == 200, resp.text
    op = resp.json()["operation"]
    assert op["sync"]["resources"] == resources and op["sync"]["dryRun"] is True
    assert op["sync"]["revision"] == env.head()
    assert op["sync"]["syncOptions"] == ["CreateNamespace=true"]  # spec.syncPolicy's
    assert op["retry"] == retry
    assert "prune" not in op["sync"] and "info" not in op

    def started() -> list[Obj] | None:
        listing = env.call("GET", "/api/v1/applications/partial/events").json()
        found = [e for e in listing["items"] if e["reason"] == "OperationStarted"]
        return found or None

    messages = {e["message"] for e in wait_for("the OperationStarted event", started)}
    plain_list = {"syncOptions": ["Prune=false"]}  # the CR's shape, not the API's
    resp = env.call("POST", "/api/v1/applications/partial/sync", json=plain_list)
    assert resp.status_code == 400 and resp.json()["code"] == 3
    assert f"admin initiated partial sync to {env.head()}" in messages


def test_sync_to_another_revision_is_refused_under_auto_sync(env: Env) -> None:
    env.create_app("auto", syncPolicy={"automated": {}, "syncOptions": ["CreateNamespace=true"]})
    resp = env.call("POST", "/api/v1/applications/auto/sync", json={"revision": "v2"})
    _error(resp, 400, 9, "Cannot sync to v2: auto-sync currently set to HEAD")
    resp = env.call(
        "POST", "/api/v1/applications/auto/sync", json={"revision": "no-such-ref", "dryRun": True}
    )
    assert resp.status_code == 400 and resp.json()["code"] == 9
    assert resp.json()["message"].startswith("error resolving repo revision: ")


def test_second_sync_and_terminate_while_an_operation_runs(env: Env) -> None:
    # a source path that does not exist: every attempt ends Error, and the retry back-off
    # keeps the operation Running (waiting to retry)
    source = dict(env.sample.app_manifest["spec"]["source"], path="no-such-path")
    env.create_app("stuck", source=source)
    path = "/api/v1/applications/stuck"
    _error(
        env.call("DELETE", f"{path}/operation"),
        400,
        3,
        "Unable to terminate operation. No operation is in progress",
    )
    retry = {"limit": 5, "backoff": {"duration": "60s"}}
    resp = env.call("POST", f"{path}/sync", json={"retryStrategy": retry})
    assert resp.status_code == 200 and resp.json()["operation"]["retry"] == retry

    def waiting_to_retry() -> Obj | None:
        state = (env.app("stuck").get("status") or {}).get("operationState") or {}
        return state if state.get("phase") == "Running" and state.get("finishedAt") else None

    wait_for("the operation to wait for a retry", waiting_to_retry)
    _error(
        env.call("POST", f"{path}/sync", json={}),
        400,
        9,
        "error setting app operation: another operation is already in progress",
    )
    resp = env.call("DELETE", f"{path}/operation")
    assert resp.status_code == 200 and resp.json() == {}

    def terminated() -> Obj | None:
        app = env.app("stuck")
        state = (app.get("status") or {}).get("operationState") or {}
        return state if state.get("phase") == "Failed" and "operation" not in app else None

    assert wait_for("the termination", terminated)["message"] == "Operation terminated"


def test_refresh_blocks_until_the_controller_reconciled(env: Env) -> None:
    env.create_app("refreshed")
    before = env.app("refreshed")
    resp = env.call("GET", "/api/v1/applications/refreshed", params={"refresh": "normal"})
    assert resp.status_code == 200, resp.text
    app = resp.json()
    assert int(app["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert "argocd.argoproj.io/refresh" not in (app["metadata"].get("annotations") or {})
    assert app["status"]["reconciledAt"]


def _stream_lines(resp: requests.Response) -> Iterator[Obj]:
    for line in resp.iter_lines():
        if line:
            yield json.loads(line)


def test_watch_stream_initial_state_then_changes_and_resume(env: Env) -> None:
    env.create_app("watched")
    with env.call(
        "GET", "/api/v1/stream/applications", params={"name": "watched"}, stream=True
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "application/json"
        lines = _stream_lines(resp)
        first = next(lines)
        assert first["result"]["type"] == "ADDED"
        assert first["result"]["application"]["metadata"]["name"] == "watched"
        assert "kind" not in first["result"]["application"]
        seen_rv = first["result"]["application"]["metadata"]["resourceVersion"]
        env.kube.patch(f"{APPS}/watched", {"metadata": {"labels": {"step": "1"}}})
        for message in lines:
            app = message["result"]["application"]
            if (app["metadata"].get("labels") or {}).get("step") == "1":
                assert message["result"]["type"] == "MODIFIED"
                break
    # resume without a name: no initial ADDED, only changes at or after the given version
    rv = env.app("watched")["metadata"]["resourceVersion"]
    with env.call(
        "GET", "/api/v1/stream/applications", params={"resourceVersion": rv}, stream=True
    ) as resp:
        env.kube.patch(f"{APPS}/watched", {"metadata": {"labels": {"step": "2"}}})
        message = next(_stream_lines(resp))
        assert message["result"]["type"] == "MODIFIED"
        assert int(message["result"]["application"]["metadata"]["resourceVersion"]) > int(seen_rv)
    # the dev token never sees apps of other projects
    with env.call("GET", "/api/v1/stream/applications", token="dev", stream=True) as resp:
        env.kube.patch(f"{APPS}/watched", {"metadata": {"labels": {"step": "3"}}})
        env.create_app("watched-dev", project="dev")
        for message in _stream_lines(resp):
            app = message["result"]["application"]
            assert app["spec"]["project"] == "dev"
            if app["metadata"]["name"] == "watched-dev":
                break


def test_watch_stream_as_server_sent_events(env: Env) -> None:
    env.create_app("watched-sse")
    headers = {"Accept": "text/event-stream"}
    params = {"name": "watched-sse"}
    with env.call(
        "GET", "/api/v1/stream/applications", params=params, headers=headers, stream=True
    ) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        line = next(line for line in resp.iter_lines() if line)
        assert line.startswith(b"data: ")
        assert json.loads(line[6:])["result"]["type"] == "ADDED"


def test_stream_errors_before_the_first_message(env: Env) -> None:
    resp = env.call("GET", "/api/v1/stream/applications/nope/resource-tree", stream=True)
    assert resp.status_code == 403
    frame = json.loads(resp.text.strip())
    assert frame == {
        "error": {
            "grpc_code": 7,
            "http_code": 403,
            "message": "permission denied",
            "http_status": "Forbidden",
            "details": [],
        }
    }


def test_resource_tree_resource_and_manifests(env: Env) -> None:
    env.create_app("treed")
    env.call("POST", "/api/v1/applications/treed/sync", json={}).raise_for_status()

    def synced() -> Obj | None:
        tree = env.call("GET", "/api/v1/applications/treed/resource-tree").json()
        kinds = {n["kind"] for n in tree.get("nodes", [])}
        return tree if "Deployment" in kinds else None

    tree = wait_for("Deployments in the resource tree", synced)
    node = next(n for n in tree["nodes"] if n["kind"] == "Deployment")
    assert {"group", "version", "kind", "namespace", "name", "uid", "resourceVersion"} <= set(node)
    assert node["group"] == "apps" and node["version"] == "v1"
    params = {
        "namespace": node["namespace"],
        "resourceName": node["name"],
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
    }
    resp = env.call("GET", "/api/v1/applications/treed/resource", params=params)
    assert resp.status_code == 200 and list(resp.json()) == ["manifest"]
    live = json.loads(resp.json()["manifest"])
    assert live["metadata"]["uid"] == node["uid"]
    missing = dict(params, resourceName="nope")
    resp = env.call("GET", "/api/v1/applications/treed/resource", params=missing)
    _error(resp, 400, 3, "Deployment apps nope not found as part of application treed")
    with env.call(
        "GET", "/api/v1/stream/applications/treed/resource-tree", stream=True
    ) as streamed:
        assert next(_stream_lines(streamed))["result"]["nodes"]
    manifests = env.call("GET", "/api/v1/applications/treed/manifests").json()
    assert manifests["revision"] == env.head()
    assert manifests["sourceType"] == "Kustomize"
    kinds = {json.loads(m)["kind"] for m in manifests["manifests"]}
    assert "Deployment" in kinds


# --- RBAC ----------------------------------------------------------------------------------


def test_project_token_works_on_its_project_only(env: Env) -> None:
    env.create_app("rbac-dev", project="dev")
    env.create_app("rbac-other", project="default")
    assert env.call("GET", "/api/v1/applications/rbac-dev", token="dev").status_code == 200
    _error(
        env.call("GET", "/api/v1/applications/rbac-other", token="dev"),
        403,
        7,
        "permission denied",
    )
    listing = env.call("GET", "/api/v1/applications", token="dev").json()
    assert {a["spec"]["project"] for a in listing["items"]} == {"dev"}
    patch = {"name": "rbac-other", "patch": "{}", "patchType": "merge"}
    resp = env.call("PATCH", "/api/v1/applications/rbac-other", token="dev", json=patch)
    _error(resp, 403, 7, "permission denied")
    resp = env.call("POST", "/api/v1/applications/rbac-other/sync", token="dev", json={})
    _error(resp, 403, 7, "permission denied")
    patch = {
        "name": "rbac-dev",
        "patch": '{"metadata":{"labels":{"ok":"1"}}}',
        "patchType": "merge",
    }
    resp = env.call("PATCH", "/api/v1/applications/rbac-dev", token="dev", json=patch)
    assert resp.status_code == 200, resp.text


def test_token_without_sync_is_denied_sync(env: Env) -> None:
    env.create_app("rbac-nosync", project="dev")
    resp = env.call("POST", "/api/v1/applications/rbac-nosync/sync", token="nosync", json={})
    assert resp.status_code == 403
    body = resp.json()
    assert body["code"] == 7
    assert body["message"].startswith(
        "permission denied: applications, sync, dev/rbac-nosync, sub: proj:dev:nosync, iat: "
    )
    assert "operation" not in env.app("rbac-nosync")
    assert env.call("GET", "/api/v1/applications/rbac-nosync", token="nosync").status_code == 200


def test_can_i(env: Env) -> None:
    def can(token: str, path: str) -> str:
        resp = env.call("GET", f"/api/v1/account/can-i/{path}", token=token)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["value"])

    assert can("dev", "applications/sync/dev/app") == "yes"
    assert can("dev", "applications/sync/default/app") == "no"
    assert can("nosync", "applications/sync/dev/app") == "no"
    assert can("ci", "applications/sync/default/app") == "yes"  # the seeded role:ci
    assert can("ci", "projects/delete/dev") == "no"
    assert can("admin", "projects/delete/dev") == "yes"
    resp = env.call("GET", "/api/v1/account/can-i/applications/fly/dev/app")
    assert resp.status_code == 400 and resp.json()["code"] == 3


def test_policy_changes_apply_at_once_and_deny_wins(env: Env) -> None:
    env.create_app("rbac-deny", project="default")
    path = "/api/v1/namespaces/argocd/configmaps/argocd-rbac-cm"
    original = env.kube.get(path)["data"]
    extra = "p, ci, applications, sync, default/rbac-deny, deny\n"
    env.kube.patch(path, {"data": {"policy.csv": original["policy.csv"] + extra}})
    try:
        resp = env.call("POST", "/api/v1/applications/rbac-deny/sync", token="ci", json={})
        assert resp.status_code == 403
        ok = env.call("GET", "/api/v1/account/can-i/applications/sync/default/other", token="ci")
        assert ok.json() == {"value": "yes"}
    finally:
        env.kube.patch(path, {"data": {"policy.csv": original["policy.csv"]}})


def test_a_project_token_not_recorded_in_the_project_is_rejected(env: Env) -> None:
    secret = env.kube.get("/api/v1/namespaces/argocd/secrets/argocd-secret")
    key = base64.b64decode(secret["data"]["server.secretkey"])
    forged = jwt.create("proj:dev:ci", key, jti="not-recorded")
    resp = env.call("GET", "/api/v1/applications", token=forged)
    assert resp.status_code == 401
    assert resp.json()["message"].startswith("invalid session: JWT token for role 'ci' issued at")


def test_https_with_the_sandbox_ca(env: Env) -> None:
    headers = {"Authorization": f"Bearer {env.admin}"}
    resp = requests.get(
        f"{env.secure_url}/api/v1/applications", headers=headers, verify=str(env.ca), timeout=30
    )
    assert resp.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{env.secure_url}/api/version", timeout=30)
