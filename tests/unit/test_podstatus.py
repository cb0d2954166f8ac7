"""The kubelet's pure parts: container states, pod phase and conditions, backoff, env, images."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pipeline.core.images import parse_image_ref
from pipeline.errors import ManifestNotFound, RegistryError
from pipeline.sandbox.controllers import podstatus as ps
from pipeline.sandbox.controllers.backoff import Backoff
from pipeline.sandbox.controllers.containerconfig import ContainerConfigError, container_env
from pipeline.sandbox.controllers.imagepull import (
    ImageResolveError,
    parse_container_image,
    pull_error,
    pull_policy,
)
from pipeline.sandbox.controllers.node import go_duration

DIGEST = "sha256:" + "a" * 64


def record(state: dict[str, Any], **kw: object) -> ps.ContainerRecord:
    rec = ps.ContainerRecord("app", "127.0.0.1:5000/web:v1", state=state)
    for key, value in kw.items():
        setattr(rec, key, value)
    return rec


def test_container_status_before_start_has_empty_image_id() -> None:
    status = ps.container_status(ps.ContainerRecord("app", "127.0.0.1:5000/web:v1"))
    assert status == {
        "name": "app",
        "image": "127.0.0.1:5000/web:v1",
        "imageID": "",
        "ready": False,
        "started": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
        "lastState": {},
    }


@pytest.mark.parametrize(
    ("exit_code", "oom", "reason"),
    [(0, False, "Completed"), (3, False, "Error"), (137, True, "OOMKilled")],
)
def test_terminated_reason(exit_code: int, oom: bool, reason: str) -> None:
    body = ps.terminated(exit_code, 0, 1, "docker://x", oom_killed=oom)["terminated"]
    assert (body["reason"], body["exitCode"], body["finishedAt"]) == (
        reason,
        exit_code,
        "1970-01-01T00:00:01Z",
    )


@pytest.mark.parametrize(
    ("states", "policy", "phase"),
    [
        ([ps.waiting("ContainerCreating")], "Always", "Pending"),
        ([ps.waiting("ErrImagePull")], "Always", "Pending"),
        ([ps.running(1)], "Always", "Running"),
        ([ps.running(1), ps.waiting("ImagePullBackOff")], "Always", "Pending"),
        ([ps.terminated(0, 0, 1, "")], "Never", "Succeeded"),
        ([ps.terminated(1, 0, 1, "")], "Never", "Failed"),
        ([ps.terminated(1, 0, 1, "")], "Always", "Running"),
        ([ps.terminated(1, 0, 1, "")], "OnFailure", "Running"),
    ],
)
def test_phase(states: list[dict[str, Any]], policy: str, phase: str) -> None:
    assert ps.pod_phase([record(s) for s in states], policy) == phase


def test_crash_looping_container_keeps_the_pod_running() -> None:
    last = ps.terminated(1, 0, 1, "")
    rec = record(ps.waiting("CrashLoopBackOff", "back-off"), last_state=last)
    assert ps.pod_phase([rec], "Always") == "Running"


def test_conditions_keep_transition_times_while_status_stays() -> None:
    ready = record(ps.running(1), ready=True)
    first = ps.pod_conditions([record(ps.waiting("ContainerCreating"))], [], 100.0)
    assert first[3] == {
        "type": "Ready",
        "status": "False",
        "reason": "ContainersNotReady",
        "message": "containers with unready status: [app]",
        "lastTransitionTime": "1970-01-01T00:01:40Z",
        "lastProbeTime": None,
    }
    second = ps.pod_conditions([ready], first, 200.0)
    assert second[0]["lastTransitionTime"] == "1970-01-01T00:01:40Z"  # PodScheduled stayed True
    assert (second[3]["status"], second[3]["lastTransitionTime"]) == (
        "True",
        "1970-01-01T00:03:20Z",
    )


def test_crash_backoff_first_restart_is_immediate_then_doubles() -> None:
    now = [0.0]
    backoff = Backoff(10, 40, clock=lambda: now[0])
    assert not backoff.in_backoff_since("k", 0.0)
    assert backoff.next("k", 0.0) == 10
    now[0] = 5.0
    assert backoff.in_backoff_since("k", 1.0)  # crashed again at 1s: 4s < 10s
    now[0] = 11.5
    assert not backoff.in_backoff_since("k", 1.0)
    assert [backoff.next("k", t) for t in (12, 13, 14)] == [20, 40, 40]
    assert backoff.next("k", 14 + 81) == 10  # quiet for more than 2 * cap: start over


def test_go_durations() -> None:
    assert [go_duration(s) for s in (0.5, 10, 80, 300)] == ["500ms", "10s", "1m20s", "5m0s"]


def test_default_pull_policy() -> None:
    assert pull_policy({"image": "web"}) == "Always"
    assert pull_policy({"image": "web:latest"}) == "Always"
    assert pull_policy({"image": "web:v1"}) == "IfNotPresent"
    assert pull_policy({"image": f"web@{DIGEST}"}) == "IfNotPresent"
    assert pull_policy({"image": "web:v1", "imagePullPolicy": "Always"}) == "Always"


def test_missing_manifest_message_is_containerds() -> None:
    ref = parse_image_ref("127.0.0.1:5000/web:nope")
    err = pull_error(ref, ManifestNotFound("gone"))
    assert err.reason == "ErrImagePull"
    assert err.message == (
        "rpc error: code = NotFound desc = failed to pull and unpack image "
        '"127.0.0.1:5000/web:nope": '
        'failed to resolve reference "127.0.0.1:5000/web:nope": 127.0.0.1:5000/web:nope: not found'
    )
    hub = pull_error(parse_image_ref("nginx"), RegistryError("boom"))
    assert hub.message.startswith(
        "rpc error: code = Unknown desc = failed to pull and unpack image "
        '"docker.io/library/nginx:latest"'
    )


def test_invalid_image_name() -> None:
    with pytest.raises(ImageResolveError) as info:
        parse_container_image("Web:Bad Tag")
    assert info.value.reason == "InvalidImageName"


def lookup(kind: str, namespace: str, name: str) -> dict[str, str] | None:
    objects = {
        ("Secret", "ns", "db"): {"password": "s3cret"},
        ("ConfigMap", "ns", "cfg"): {"MODE": "canary", "LEVEL": "debug"},
    }
    return objects.get((kind, namespace, name))


def test_env_from_secrets_configmaps_and_expansion() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "APP_"}],
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "URL", "value": "db://$(PW)@host/$$literal"},
            {
                "name": "OPT",
                "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
        ],
    }
    assert container_env(container, "ns", lookup) == {
        "APP_MODE": "canary",
        "APP_LEVEL": "debug",
        "PW": "s3cret",
        "URL": "db://s3cret@host/$literal",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
            'secret "nope" not found',
        ),
        (
            [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
            'configmap "gone" not found',
        ),
        (
            [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "user"}}}],
            "couldn't find key user in Secret ns/db",
        ),
    ],
)
def test_missing_config_is_create_container_config_error(env: list[object], message: str) -> None:
    with pytest.raises(ContainerConfigError) as info:
        container_env({"env": env}, "ns", lookup)
    assert str(info.value) == message


def test_secret_data_is_decoded() -> None:
    from pipeline.sandbox.controllers.containerconfig import secret_data

    assert secret_data({"data": {"k": base64.b64encode(b"v").decode()}}) == {"k": "v"}
