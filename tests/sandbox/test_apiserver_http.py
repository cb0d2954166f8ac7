"""Discovery, OpenAPI, error Status bodies, field validation, tables, pod logs, persistence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline.sandbox.apiserver import APIServer

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"


@pytest.fixture
def url() -> Iterator[str]:
    srv = APIServer()
    srv.start()
    yield srv.url
    srv.stop()


def test_discovery_documents(url: str) -> None:
    assert requests.get(url + "/version", timeout=5).json()["major"] == "1"
    assert requests.get(url + "/api", timeout=5).json()["versions"] == ["v1"]
    groups = requests.get(url + "/apis", timeout=5).json()
    assert [g["name"] for g in groups["groups"]] == [
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "networking.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "argoproj.io",
    ]
    argo = requests.get(url + "/apis/argoproj.io/v1alpha1", timeout=5).json()
    by_name = {r["name"]: r for r in argo["resources"]}
    assert by_name["applications"]["shortNames"] == ["app", "apps"]
    assert "applications/status" not in by_name
    assert "applicationsets/status" in by_name
    core = {r["name"]: r for r in requests.get(url + "/api/v1", timeout=5).json()["resources"]}
    assert core["pods/log"]["verbs"] == ["get"]
    assert core["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert core["namespaces"]["namespaced"] is False


def test_openapi_v3_marks_field_validation_support(url: str) -> None:
    index = requests.get(url + "/openapi/v3", timeout=5).json()
    ref = index["paths"]["apis/argoproj.io/v1alpha1"]["serverRelativeURL"]
    doc = requests.get(url + ref, timeout=5).json()
    item = doc["paths"]["/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications/{name}"]
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "argoproj.io",
        "version": "v1alpha1",
        "kind": "Application",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][2].items()
    assert requests.get(url + "/openapi/v2", timeout=5).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v1/widgets", 404),
        ("GET", "/apis/example.com/v1/things", 404),
        ("GET", "/api/v1/namespaces/default/pods/p/nothing", 404),
        ("POST", "/api/v1/namespaces/default/configmaps/x", 405),
        ("PUT", "/api/v1/namespaces/default/configmaps", 405),
    ],
)
def test_unknown_paths_and_methods_get_status(url: str, method: str, path: str, code: int) -> None:
    resp = requests.request(method, url + path, json={}, timeout=5)
    assert resp.status_code == code
    assert resp.json()["kind"] == "Status"
    assert resp.json()["code"] == code


def test_unknown_resource_message(url: str) -> None:
    body = requests.get(url + "/api/v1/widgets", timeout=5).json()
    assert body["message"] == "the server could not find the requested resource"
    assert body["reason"] == "NotFound"


def test_malformed_json_is_400(url: str) -> None:
    resp = requests.post(
        url + CM, data=b"{nope", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert resp.status_code == 400
    assert resp.json()["reason"] == "BadRequest"
    resp = requests.post(
        url + CM, data=b"[1]", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert resp.status_code == 400


def test_strict_field_validation(url: str) -> None:
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "a"},
        "spec": {"project": "default", "foo": 1},
        "bar": 2,
    }
    strict = requests.post(url + APPS, params={"fieldValidation": "Strict"}, json=app, timeout=5)
    assert strict.status_code == 400
    assert strict.json()["message"] == (
        'strict decoding error: unknown field "bar", unknown field "spec.foo"'
    )
    warned = requests.post(url + APPS, json=app, timeout=5)
    assert warned.status_code == 201
    assert "foo" not in warned.json()["spec"]
    assert "bar" not in warned.json()
    assert warned.headers["Warning"] == (
        '299 - "unknown field \\"bar\\"", 299 - "unknown field \\"spec.foo\\""'
    )


def test_yaml_body_is_accepted(url: str) -> None:
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata: {k: v}\n"
    resp = requests.post(
        url + CM, data=body, headers={"Content-Type": "application/yaml"}, timeout=5
    )
    assert resp.status_code == 201
    assert resp.json()["data"] == {"k": "v"}


def test_table_for_pods(url: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    requests.post(url + PODS, json=pod, timeout=5)
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = requests.get(url + PODS, headers={"Accept": accept}, timeout=5).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    assert table["rows"][0]["cells"][:4] == ["p", "0/1", "Pending", 0]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_pod_logs_written_by_the_kubelet_endpoint(url: str) -> None:
    containers = [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]
    requests.post(
        url + PODS, json={"metadata": {"name": "p"}, "spec": {"containers": containers}}, timeout=5
    )
    sandbox = url + "/sandbox/v1/namespaces/default/pods/p/log"
    assert requests.put(sandbox, params={"container": "a"}, data=b"one\ntwo\n", timeout=5).ok
    assert requests.post(sandbox, params={"container": "a"}, data=b"three\n", timeout=5).ok
    log = requests.get(url + PODS + "/p/log", params={"container": "a"}, timeout=5)
    assert (log.status_code, log.text) == (200, "one\ntwo\nthree\n")
    tail = requests.get(
        url + PODS + "/p/log", params={"container": "a", "tailLines": "1"}, timeout=5
    )
    assert tail.text == "three\n"
    unnamed = requests.get(url + PODS + "/p/log", timeout=5)
    assert unnamed.status_code == 400
    assert unnamed.json()["message"] == (
        "a container name must be specified for pod p, choose one of: [a b]"
    )
    unknown = requests.get(url + PODS + "/p/log", params={"container": "z"}, timeout=5)
    assert unknown.json()["message"] == "container z is not valid for pod p"
    waiting = requests.get(url + PODS + "/p/log", params={"container": "b"}, timeout=5)
    assert waiting.status_code == 400
    assert (
        waiting.json()["message"]
        == 'container "b" in pod "p" is waiting to start: ContainerCreating'
    )


def test_state_persists_across_stop_and_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = APIServer(state_file=state)
    first.start()
    made = requests.post(first.url + CM, json={"metadata": {"name": "kept"}}, timeout=5).json()
    first.stop()
    assert json.loads(state.read_text())["resourceVersion"] >= int(
        made["metadata"]["resourceVersion"]
    )
    second = APIServer(state_file=state)
    second.start()
    try:
        got = requests.get(second.url + CM + "/kept", timeout=5).json()
        assert got["metadata"]["uid"] == made["metadata"]["uid"]
        assert got["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
        listing = requests.get(second.url + CM, timeout=5).json()
        assert int(listing["metadata"]["resourceVersion"]) >= int(
            made["metadata"]["resourceVersion"]
        )
        # watch history is not persisted: an older RV is expired after a restart
        with requests.get(
            second.url + CM,
            params={"watch": "true", "resourceVersion": "1", "timeoutSeconds": "5"},
            stream=True,
            timeout=30,
        ) as resp:
            events = [json.loads(line) for line in resp.iter_lines() if line]
        assert [(e["type"], e["object"]["code"]) for e in events] == [("ERROR", 410)]
        names = [
            n["metadata"]["name"]
            for n in requests.get(second.url + "/api/v1/namespaces", timeout=5).json()["items"]
        ]
        assert names.count("default") == 1
    finally:
        second.stop()
