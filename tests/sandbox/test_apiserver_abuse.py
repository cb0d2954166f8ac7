"""Bad input the real kube-apiserver refuses: the codes, reasons and messages it answers.

Sources: k8s.io/apiserver handlers/rest.go (limitedReadBody, transformDecodeError),
apimachinery/pkg/api/validation/objectmeta.go (TotalAnnotationSizeLimitB), Go encoding/json.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline.sandbox.apiserver import APIServer

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
SECRETS = "/api/v1/namespaces/default/secrets"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON = {"Content-Type": "application/json"}
POD_SPEC = {"containers": [{"name": "app", "image": "nginx"}]}


@pytest.fixture
def url() -> Iterator[str]:
    srv = APIServer()
    srv.start()
    yield srv.url
    srv.stop()


def _status(response: requests.Response, code: int, reason: str) -> str:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status"
    assert (body["code"], body["reason"]) == (code, reason)
    return str(body["message"])


def _decode_error(kind: str, detail: str) -> str:
    return f'{kind} in version "v1" cannot be handled as a {kind}: json: {detail}'


def test_an_integer_name_is_400_and_leaves_the_namespace_listable(url: str) -> None:
    for path, kind, extra in ((PODS, "Pod", {"spec": POD_SPEC}), (CM, "ConfigMap", {})):
        response = requests.post(url + path, json={"metadata": {"name": 123}, **extra}, timeout=5)
        assert _status(response, 400, "BadRequest") == _decode_error(
            kind,
            "cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string",
        )
    assert requests.get(url + PODS, timeout=5).status_code == 200
    watch = requests.get(url + PODS, params={"watch": "1", "timeoutSeconds": "1"}, timeout=10)
    assert watch.status_code == 200
    assert watch.text == ""


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"metadata": {"name": "a"}, "data": [1, 2]},
            "cannot unmarshal array into Go struct field ConfigMap.data of type map[string]string",
        ),
        (
            {"metadata": {"name": "a"}, "data": {"k": 1}},
            "cannot unmarshal number into Go struct field ConfigMap.data of type string",
        ),
        (
            {"metadata": {"name": "a", "labels": {"app": True}}},
            "cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
        ),
        (
            {"metadata": {"name": "a", "annotations": ["x"]}},
            "cannot unmarshal array into Go struct field ObjectMeta.metadata.annotations of type "
            "map[string]string",
        ),
        (
            {"metadata": {"name": "a", "finalizers": "x"}},
            "cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type "
            "[]string",
        ),
        (
            {"metadata": "a"},
            "cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta",
        ),
    ],
)
def test_a_field_of_the_wrong_type_is_400(url: str, body: dict[str, Any], detail: str) -> None:
    response = requests.post(url + CM, json=body, timeout=5)
    assert _status(response, 400, "BadRequest") == _decode_error("ConfigMap", detail)
    assert requests.get(url + CM, timeout=5).json()["items"] == []


def test_secret_data_must_be_base64(url: str) -> None:
    body = {"metadata": {"name": "s"}, "data": {"k": "not base64!"}}
    response = requests.post(url + SECRETS, json=body, timeout=5)
    assert _status(response, 400, "BadRequest") == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'
    )


def test_a_wrong_type_in_a_patch_is_400_and_changes_nothing(url: str) -> None:
    requests.post(url + CM, json={"metadata": {"name": "p"}}, timeout=5).raise_for_status()
    patch = json.dumps({"metadata": {"name": 5}})
    response = requests.patch(url + CM + "/p", data=patch, headers=MERGE, timeout=5)
    _status(response, 400, "BadRequest")
    assert requests.get(url + CM + "/p", timeout=5).json()["metadata"]["name"] == "p"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_as_go_json_does(url: str, literal: str) -> None:
    body = '{"metadata": {"name": "n"}, "data": {"k": ' + literal + "}}"
    response = requests.post(url + CM, data=body, headers=JSON, timeout=5)
    expected = (
        "invalid character 'I' in numeric literal"
        if literal[0] == "-"
        else (f"invalid character '{literal[0]}' looking for beginning of value")
    )
    assert _status(response, 400, "BadRequest") == (
        f"couldn't get version/kind; json parse error: {expected}"
    )
    patch = requests.patch(
        url + CM + "/n", data='{"data": {"k": ' + literal + "}}", headers=MERGE, timeout=5
    )
    assert patch.status_code == 400


def test_a_number_beyond_float64_is_refused(url: str) -> None:
    body = '{"metadata": {"name": "n"}, "data": {"k": "v"}, "x": 1e400}'
    response = requests.post(url + CM, data=body, headers=JSON, timeout=5)
    assert _status(response, 400, "BadRequest") == (
        "couldn't get version/kind; json parse error: json: cannot unmarshal number 1e400 into "
        "Go value of type float64"
    )


def test_nesting_too_deep_is_400_not_500(url: str) -> None:
    body = '{"metadata": {"name": "deep"}, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = requests.post(url + CM, data=body, headers=JSON, timeout=10)
    assert _status(response, 400, "BadRequest").endswith("exceeded max depth")
    patch = requests.patch(url + CM + "/deep", data="[" * 100_000, headers=MERGE, timeout=10)
    assert patch.status_code in (400, 404)


def test_an_invalid_content_length_is_400(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST {CM} HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b'"reason":"BadRequest"' in reply


def test_yaml_nan_is_refused(url: str) -> None:
    body = "metadata: {name: y}\ndata: {k: .nan}\n"
    response = requests.post(
        url + CM, data=body, headers={"Content-Type": "application/yaml"}, timeout=5
    )
    assert "json: unsupported value: NaN" in _status(response, 400, "BadRequest")


def test_a_body_over_3_mib_is_413(url: str) -> None:
    big = {"metadata": {"name": "big"}, "data": {"k": "x" * (50 * 1024 * 1024)}}
    response = requests.post(url + CM, json=big, timeout=60)
    message = _status(response, 413, "RequestEntityTooLarge")
    assert message == "Request entity too large: limit is 3145728"
    assert requests.get(url + CM + "/big", timeout=5).status_code == 404
    # the connection pool still works after the refusal
    assert requests.get(url + CM, timeout=5).status_code == 200


def test_annotations_over_256_kib_are_422(url: str) -> None:
    body = {"metadata": {"name": "a", "annotations": {"note": "x" * 300_000}}}
    response = requests.post(url + CM, json=body, timeout=10)
    message = _status(response, 422, "Invalid")
    assert message == (
        'ConfigMap "a" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    )
    cause = response.json()["details"]["causes"][0]
    assert cause == {
        "reason": "FieldValueTooLong",
        "message": "Too long: must have at most 262144 bytes",
        "field": "metadata.annotations",
    }
    requests.post(url + CM, json={"metadata": {"name": "b"}}, timeout=5).raise_for_status()
    patch = json.dumps({"metadata": {"annotations": {"note": "x" * 300_000}}})
    response = requests.patch(url + CM + "/b", data=patch, headers=MERGE, timeout=10)
    _status(response, 422, "Invalid")


def test_configmap_data_over_1_mib_is_422(url: str) -> None:
    body = {"metadata": {"name": "d"}, "data": {"k": "x" * (1024 * 1024 + 1)}}
    response = requests.post(url + CM, json=body, timeout=10)
    assert "Too long: must have at most 1048576 bytes" in _status(response, 422, "Invalid")


@pytest.mark.parametrize(
    ("path", "name", "rule"),
    [
        (CM, "Bad_Name", "a lowercase RFC 1123 subdomain"),
        (CM, "x" * 254, "must be no more than 253 characters"),
        ("/api/v1/namespaces", "a.b", "a lowercase RFC 1123 label"),
        ("/api/v1/namespaces", "n" * 64, "must be no more than 63 characters"),
    ],
)
def test_names_follow_the_dns_1123_rule_of_their_kind(
    url: str, path: str, name: str, rule: str
) -> None:
    response = requests.post(url + path, json={"metadata": {"name": name}}, timeout=5)
    message = _status(response, 422, "Invalid")
    assert f'metadata.name: Invalid value: "{name}": {rule}' in message


def test_a_malformed_object_in_a_state_file_is_skipped(tmp_path: Path) -> None:
    state = tmp_path / "store.json"
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 123, "namespace": "default"}}
    good = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "default"}}
    state.write_text(json.dumps({"resourceVersion": 5, "objects": [bad, good]}))
    with APIServer(state_file=state) as srv:
        listing = requests.get(srv.url + PODS, timeout=5)
        assert listing.status_code == 200
        assert [p["metadata"]["name"] for p in listing.json()["items"]] == ["ok"]


@pytest.mark.parametrize(
    ("meta", "cause"),
    [
        (
            {"labels": {"bad key": "v"}},
            (
                "metadata.labels",
                'Invalid value: "bad key": name part must consist of alphanumeric characters, '
                "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                "'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ),
        ),
        (
            {"labels": {"app": "x" * 64}},
            ("metadata.labels", f'Invalid value: "{"x" * 64}": must be no more than 63 characters'),
        ),
        (
            {"labels": {"app": "a/b"}},
            (
                "metadata.labels",
                'Invalid value: "a/b": a valid label must be an empty string or consist of '
                "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex "
                "used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
            ),
        ),
        (
            {"annotations": {"/x": "v"}},
            ("metadata.annotations", 'Invalid value: "/x": prefix part must be non-empty'),
        ),
    ],
)
def test_label_and_annotation_keys_and_values_are_validated(
    url: str, meta: dict[str, Any], cause: tuple[str, str]
) -> None:
    response = requests.post(url + CM, json={"metadata": {"name": "l", **meta}}, timeout=5)
    _status(response, 422, "Invalid")
    causes = [(c["field"], c["message"]) for c in response.json()["details"]["causes"]]
    assert causes == [cause]


def test_valid_labels_and_annotations_pass(url: str) -> None:
    meta = {
        "name": "ok",
        "labels": {"app.kubernetes.io/name": "web", "empty": "", "pod-template-hash": "7d9f"},
        "annotations": {"argocd-image-updater.argoproj.io/image-list": "a=reg:5000/x:1", "A": ""},
    }
    assert requests.post(url + CM, json={"metadata": meta}, timeout=5).status_code == 201
