"""Patch semantics: merge, JSON patch, strategic merge, and their error codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client

from pipeline.sandbox.apiserver import APIServer
from pipeline.sandbox.apiserver.patch import json_patch, merge_patch
from pipeline.sandbox.apiserver.status import ApiStatusError
from pipeline.sandbox.apiserver.strategic import strategic_merge

APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSONP = {"Content-Type": "application/json-patch+json"}
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.fixture
def url() -> Iterator[str]:
    srv = APIServer()
    srv.start()
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "auth", "annotations": {"keep": "1"}},
        "spec": {"project": "default", "info": [{"name": "a", "value": "1"}]},
        "operation": {"sync": {"revision": "abc"}},
    }
    assert requests.post(srv.url + APPS, json=app, timeout=5).status_code == 201
    yield srv.url
    srv.stop()


def patch(url: str, body: Any, headers: dict[str, str]) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.patch(url + APPS + "/auth", data=data, headers=headers, timeout=5)


def test_merge_patch_null_deletes_and_arrays_replace(url: str) -> None:
    resp = patch(
        url,
        {"operation": None, "spec": {"info": [{"name": "b", "value": "2"}]}},
        MERGE,
    )
    assert resp.status_code == 200
    obj = resp.json()
    assert "operation" not in obj
    assert obj["spec"] == {"project": "default", "info": [{"name": "b", "value": "2"}]}
    assert obj["metadata"]["annotations"] == {"keep": "1"}


def test_strategic_merge_on_custom_resource_is_415(url: str) -> None:
    resp = patch(url, {"spec": {"project": "x"}}, SMP)
    assert resp.status_code == 415
    assert resp.json()["reason"] == "UnsupportedMediaType"
    assert resp.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def test_json_patch_undecodable_is_400_and_failed_test_is_422(url: str) -> None:
    assert patch(url, b"[{not json", JSONP).status_code == 400
    assert patch(url, {"op": "add"}, JSONP).status_code == 400
    failed = patch(
        url,
        [
            {"op": "test", "path": "/spec/project", "value": "other"},
            {"op": "remove", "path": "/spec"},
        ],
        JSONP,
    )
    assert failed.status_code == 422
    assert failed.json()["reason"] == "Invalid"
    missing = patch(url, [{"op": "replace", "path": "/spec/nothing", "value": 1}], JSONP)
    assert missing.status_code == 422
    ok = patch(
        url,
        [
            {"op": "test", "path": "/spec/project", "value": "default"},
            {"op": "add", "path": "/operation", "value": None},
        ],
        JSONP,
    )
    assert ok.status_code == 200
    assert "operation" not in ok.json()  # null pruned, as for a CRD's non-nullable field


def test_merge_patch_errors(url: str) -> None:
    assert patch(url, b"{bad", MERGE).status_code == 400
    assert patch(url, [{"op": "add"}], MERGE).status_code == 400
    assert patch(url, {"spec": {}}, {"Content-Type": "text/plain"}).status_code == 415


def test_stale_resource_version_in_patch_body_is_409(url: str) -> None:
    first = patch(url, {"spec": {"project": "p1"}}, MERGE).json()
    patch(url, {"spec": {"project": "p2"}}, MERGE)
    stale = patch(
        url, {"metadata": {"resourceVersion": first["metadata"]["resourceVersion"]}}, MERGE
    )
    assert stale.status_code == 409
    assert stale.json()["reason"] == "Conflict"
    current = patch(url, {}, MERGE).json()["metadata"]["resourceVersion"]
    fresh = patch(url, {"metadata": {"resourceVersion": current}, "spec": {"project": "p3"}}, MERGE)
    assert fresh.status_code == 200


def test_python_client_patches_pods_with_strategic_merge() -> None:
    srv = APIServer()
    srv.start()
    try:
        cfg = client.Configuration()
        cfg.host = srv.url
        with client.ApiClient(cfg) as api:
            core: Any = client.CoreV1Api(api)
            core.create_namespaced_pod(
                "default",
                {
                    "metadata": {"name": "p"},
                    "spec": {
                        "containers": [
                            {"name": "a", "image": "x:1", "env": [{"name": "A", "value": "1"}]},
                            {"name": "b", "image": "y:1"},
                        ]
                    },
                },
            )
            patched = core.patch_namespaced_pod(
                "p",
                "default",
                {"spec": {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]}},
            )
            a, b = patched.spec.containers
            assert (a.image, [e.name for e in a.env], b.name) == ("x:1", ["A", "B"], "b")
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("original", "patch_body", "expected"),
    [
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": None}}, {"a": {"c": 2}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"b": {"c": None}}, {"a": 1, "b": {}}),
    ],
)
def test_merge_patch_rfc7386(original: Any, patch_body: Any, expected: Any) -> None:
    assert merge_patch(original, patch_body) == expected


SPEC: dict[str, Any] = {
    "containers": [
        {"name": "a", "image": "x:1", "ports": [{"containerPort": 80, "name": "http"}]},
        {"name": "b", "image": "y:1"},
    ],
    "volumes": [{"name": "v", "emptyDir": {}}],
    "tolerations": [{"key": "k"}],
}


@pytest.mark.parametrize(
    ("patch_body", "expected_spec"),
    [
        (
            {"containers": [{"name": "b", "image": "y:2"}, {"name": "c", "image": "z:1"}]},
            {
                **SPEC,
                "containers": [
                    SPEC["containers"][0],
                    {"name": "b", "image": "y:2"},
                    {"name": "c", "image": "z:1"},
                ],
            },
        ),
        (
            {"containers": [{"name": "a", "$patch": "delete"}]},
            {**SPEC, "containers": [SPEC["containers"][1]]},
        ),
        (
            {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "web"}]}]},
            {
                **SPEC,
                "containers": [
                    {"name": "a", "image": "x:1", "ports": [{"containerPort": 80, "name": "web"}]},
                    SPEC["containers"][1],
                ],
            },
        ),
        ({"tolerations": [{"key": "j"}]}, {**SPEC, "tolerations": [{"key": "j"}]}),
        (
            {"volumes": [{"name": "w"}, {"$patch": "replace"}]},
            {**SPEC, "volumes": [{"name": "w"}]},
        ),
        ({"$patch": "replace", "containers": []}, {"containers": []}),
    ],
)
def test_strategic_merge_by_patch_merge_key(patch_body: Any, expected_spec: Any) -> None:
    assert strategic_merge({"spec": SPEC}, {"spec": patch_body}) == {"spec": expected_spec}


def test_strategic_merge_finalizers_union_and_delete_from_primitive_list() -> None:
    original = {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge(original, {"metadata": {"finalizers": ["c", "a"]}}) == {
        "metadata": {"finalizers": ["a", "b", "c"]}
    }
    assert strategic_merge(
        original, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    ) == {"metadata": {"finalizers": ["b"]}}


def test_json_patch_operations() -> None:
    doc = {"a": [1, 2], "b": {"c": 1}}
    ops: list[dict[str, Any]] = [
        {"op": "add", "path": "/a/-", "value": 3},
        {"op": "move", "from": "/b/c", "path": "/d"},
        {"op": "copy", "from": "/a/0", "path": "/a/0"},
        {"op": "replace", "path": "/b", "value": "x"},
    ]
    assert json_patch(doc, ops) == {"a": [1, 1, 2, 3], "b": "x", "d": 1}
    with pytest.raises(ApiStatusError) as err:
        json_patch(doc, [{"op": "remove", "path": "/nothing"}])
    assert err.value.code == 422
