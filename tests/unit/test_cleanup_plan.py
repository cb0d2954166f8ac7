"""What cleanup-canary writes (pipeline/cleanup/plan.py), decided from Application JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.cleanup.plan import PREVIOUS_ANNOTATION, pinned_by_pr, plan_cleanup
from pipeline.core.images import parse_image_ref

REPO = parse_image_ref("127.0.0.1:5000/eco2")
D = "sha256:" + "d" * 64
THEIRS = {"target": {"kind": "Deployment", "name": "other"}, "patch": '{"spec": {}}'}
OURS = {
    "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "auth-canary"},
    "patch": json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": f"127.0.0.1:5000/eco2@{D}"}]}}}}),
}  # fmt: skip


def app(source: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta = {"name": "dev-api-auth", "resourceVersion": "41", "annotations": annotations or {}}
    return {"metadata": meta, "spec": {"source": {"repoURL": "file:///g", **source}}}


def test_removing_our_patch_keeps_others() -> None:
    write = plan_cleanup(
        app({"kustomize": {"patches": [THEIRS, OURS]}}, {"pipeline.dev/canary-digest": D}),
        REPO, "auth-api-dev-canary",
    )  # fmt: skip
    assert write is not None
    assert write.body == {
        "metadata": {"resourceVersion": "41", "annotations": {"pipeline.dev/canary-digest": None}},
        "spec": {"source": {"kustomize": {"patches": [THEIRS]}}},
    }
    assert (write.removed, write.digest, write.deployments) == ([OURS], D, ("auth-canary",))


def test_only_entry_removes_the_section() -> None:
    write = plan_cleanup(app({"kustomize": {"patches": [OURS]}}), REPO, "auth-api-dev-canary")
    assert write is not None
    assert write.body["spec"] == {"source": {"kustomize": None}}
    assert write.digest == D


def test_replaced_image_entry_is_restored_from_the_annotation() -> None:
    previous = json.dumps(
        {"field": "spec.source.kustomize.images", "entries": ["eco2-canary=x:old"]}
    )
    ours = f"eco2-canary=127.0.0.1:5000/eco2:auth-api-dev-canary@{D}"
    write = plan_cleanup(
        app({"kustomize": {"images": ["keep=y:1", ours]}}, {PREVIOUS_ANNOTATION: previous}),
        REPO, "auth-api-dev-canary",
    )  # fmt: skip
    assert write is not None
    assert write.body["spec"]["source"]["kustomize"]["images"] == ["keep=y:1", "eco2-canary=x:old"]
    assert write.restored == ["eco2-canary=x:old"]


def test_helm_parameter_removed() -> None:
    ours = {"name": "image.tag", "value": f"auth-api-dev-canary@{D}", "forceString": True}
    theirs = {"name": "replicas", "value": "2"}
    write = plan_cleanup(app({"helm": {"parameters": [theirs, ours]}}), REPO, "auth-api-dev-canary")
    assert write is not None
    assert write.body["spec"]["source"]["helm"]["parameters"] == [theirs]


def test_nothing_of_ours_means_no_write() -> None:
    assert plan_cleanup(app({"kustomize": {"patches": [THEIRS]}}), REPO, "t") is None
    assert plan_cleanup(app({}), REPO, "t") is None


def test_owner_pr_from_the_last_operation_marker() -> None:
    pinned = app({}, {"pipeline.dev/canary-digest": D})
    info = [{"name": "pipeline-digest", "value": D}, {"name": "pipeline-pr", "value": "7"}]
    pinned["status"] = {"operationState": {"operation": {"info": info}}}
    assert pinned_by_pr(pinned) == "7"
    info[0]["value"] = "sha256:other"
    assert pinned_by_pr(pinned) == ""


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ("eco2-canary=127.0.0.1:5000/eco2:t@sha256:" + "a" * 64, "image:eco2-canary"),
        ("127.0.0.1:5000/eco2:t", "image:127.0.0.1:5000/eco2"),
        ("127.0.0.1:5000/eco2", "image:127.0.0.1:5000/eco2"),
        ("127.0.0.1:5000/eco2@sha256:" + "a" * 64, "image:127.0.0.1:5000/eco2"),
        ({"name": "image.tag", "value": "v1"}, "parameter:image.tag"),
        ({"target": {"kind": "Deployment", "name": "x"}, "patch": "[]"}, "patch:Deployment/x"),
    ],
)
def test_entries_are_restored_by_the_key_they_were_replaced_by(entry: object, key: str) -> None:
    from pipeline.cleanup.plan import entry_key

    assert entry_key(entry) == key
