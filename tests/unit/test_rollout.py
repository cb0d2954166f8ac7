"""The rollout classifier over recorded pod, ReplicaSet and Deployment JSON (tests/unit/data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.rollout import judge_rollout, labels_match, observe_pod

DATA = Path(__file__).parent / "data" / "rollout"
DIGEST = "sha256:" + "a" * 64


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


@pytest.mark.parametrize(
    ("pod", "ready", "ours", "failure"),
    [
        ("pod-ready-ours.json", True, True, ""),
        ("pod-ready-docker-pullable.json", True, True, ""),
        ("pod-ready-old.json", True, False, ""),
        ("pod-creating.json", False, False, ""),
        ("pod-pending-unscheduled.json", False, False, ""),
        ("pod-err-image-pull.json", False, False, "err-image-pull"),
        ("pod-image-pull-backoff.json", False, False, "image-pull-backoff"),
        ("pod-invalid-image-name.json", False, False, "invalid-image-name"),
        ("pod-config-error.json", False, False, "container-config-error"),
        ("pod-crashloop-1.json", False, True, ""),
        ("pod-crashloop-3.json", False, True, "crash-loop"),
    ],
)
def test_observe_pod(pod: str, ready: bool, ours: bool, failure: str) -> None:
    obs = observe_pod(load(pod), DIGEST, "auth-api", crash_restarts=2)
    assert (obs.ready, obs.ours, obs.failure) == (ready, ours, failure)


def test_crash_grace_is_configurable() -> None:
    assert observe_pod(load("pod-crashloop-1.json"), DIGEST, None, 1).failure == "crash-loop"


@pytest.mark.parametrize(
    ("deployment", "pods", "state", "reason"),
    [
        ("deployment-pinned.json", ["pod-ready-ours.json"], "done", ""),
        ("deployment-pinned.json", ["pod-ready-ours.json", "pod-ready-old-terminating.json"],
         "done", ""),
        ("deployment-pinned.json", ["pod-ready-ours.json", "pod-ready-old.json"], "waiting", ""),
        ("deployment-pinned.json", ["pod-creating.json", "pod-ready-old.json"], "waiting", ""),
        ("deployment-pinned.json", [], "waiting", ""),
        ("deployment-unobserved.json", ["pod-ready-ours.json"], "waiting", ""),
        ("deployment-pinned.json", ["pod-image-pull-backoff.json"], "failed",
         "image-pull-backoff"),
        ("deployment-pinned.json", ["pod-crashloop-3.json"], "failed", "crash-loop"),
        ("deployment-pinned.json", ["pod-config-error.json"], "failed", "container-config-error"),
        ("deployment-deadline.json", ["pod-creating.json"], "failed",
         "progress-deadline-exceeded"),
        ("deployment-rewritten.json", ["pod-ready-old.json"], "failed", "override-rewrote-image"),
    ],
)  # fmt: skip
def test_judge_rollout(deployment: str, pods: list[str], state: str, reason: str) -> None:
    verdict, _ = judge_rollout(
        load(deployment), load("replicasets.json"), [load(p) for p in pods], DIGEST, "auth-api"
    )
    assert (verdict.state, verdict.reason) == (state, reason)


def test_failure_names_the_pod() -> None:
    verdict, observed = judge_rollout(
        load("deployment-pinned.json"),
        load("replicasets.json"),
        [load("pod-err-image-pull.json")],
        DIGEST,
        "auth-api",
    )
    assert verdict.pod == "auth-api-canary-7d9f-pull"
    assert [o.as_dict() for o in observed] == [
        {
            "name": "auth-api-canary-7d9f-pull",
            "imageID": "",
            "ready": False,
            "restarts": 0,
            "waiting": "ErrImagePull",
        }
    ]


def test_missing_deployment_fails() -> None:
    verdict, _ = judge_rollout(None, [], [], DIGEST, None)
    assert verdict.reason == "canary-workload-not-found"


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("app=a,version=v2", {"app": "a", "version": "v2", "x": "y"}, True),
        ("app=a,version=v2", {"app": "a", "version": "v1"}, False),
        ("app==a", {"app": "a"}, True),
        ("app!=a", {"app": "a"}, False),
        ("app", {"app": "z"}, True),
        ("!app", {"app": "z"}, False),
        ("", {}, True),
    ],
)
def test_labels_match(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert labels_match(selector, labels) is matches


MANIFEST = "sha256:" + "a" * 64
CONFIG = "sha256:" + "c" * 64


@pytest.mark.parametrize(
    ("image_id", "config_digest", "ours"),
    [
        (f"127.0.0.1:5000/eco2@{MANIFEST}", "", True),  # containerd, pulled
        (f"docker-pullable://127.0.0.1:5000/eco2@{MANIFEST}", "", True),  # cri-dockerd
        (CONFIG, CONFIG, True),  # loaded onto the node (kind load, some CRI-O): config digest
        (f"docker://{CONFIG}", CONFIG, True),
        (CONFIG, "", False),  # config digest unknown: never guessed
        (f"127.0.0.1:5000/eco2@{CONFIG}", CONFIG, False),  # a repo@ form names a manifest
        ("", CONFIG, False),
    ],
)
def test_image_ids_as_nodes_report_them(image_id: str, config_digest: str, ours: bool) -> None:
    pod = {
        "metadata": {"name": "p"},
        "status": {"containerStatuses": [{"name": "app", "imageID": image_id, "ready": True}]},
    }
    assert observe_pod(pod, MANIFEST, None, 2, config_digest).ours is ours


NEW = "sha256:" + "e" * 64


def _after_failed_canary(observed_generation: int) -> tuple[Any, list[Any]]:
    """The previous run's canary (revision 4, pods crash-looping on DIGEST) is still the newest
    ReplicaSet; our write moved the template to NEW (generation 4)."""
    deployment = load("deployment-pinned.json")
    deployment["metadata"]["generation"] = 4
    deployment["status"]["observedGeneration"] = observed_generation
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = container["image"].replace(DIGEST, NEW)
    return deployment, [load("pod-crashloop-3.json")]


def test_the_previous_canarys_failure_is_history_until_our_template_is_observed() -> None:
    deployment, pods = _after_failed_canary(observed_generation=3)
    verdict, _ = judge_rollout(deployment, load("replicasets.json"), pods, NEW, "auth-api")
    assert (verdict.state, verdict.message) == (
        "waiting",
        "waiting for the Deployment spec update to be observed",
    )


def test_the_previous_canarys_failure_is_history_until_our_replicaset_exists() -> None:
    deployment, pods = _after_failed_canary(observed_generation=4)
    # revision 4 is still the newest ReplicaSet, and its template runs the old digest
    verdict, _ = judge_rollout(deployment, load("replicasets.json"), pods, NEW, "auth-api")
    assert (verdict.state, verdict.message) == (
        "waiting",
        "waiting for the ReplicaSet of our template",
    )
