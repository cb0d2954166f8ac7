"""What an Application pins per alias, which workload an alias drives, and the agreement."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.core.imageupdater.annotations import parse_annotations
from pipeline.errors import AmbiguousPin
from pipeline.inspect.agreement import judge
from pipeline.inspect.pins import Pin, current_pin
from pipeline.inspect.workloads import PodImage, Workload, pod_images, resolve_workloads

U = "argocd-image-updater.argoproj.io/"
REPO = "127.0.0.1:5000/eco2"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
ANNOTATIONS = {
    U + "image-list": f"stable={REPO}:auth-api-dev-latest,canary={REPO}:auth-api-dev-canary",
    U + "stable.update-strategy": "digest",
    U + "canary.update-strategy": "digest",
}
CONFIG = parse_annotations(ANNOTATIONS, "app")
CANARY, STABLE = CONFIG.image("canary"), CONFIG.image("stable")


def patch(deployment: str, image: str) -> dict[str, Any]:
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    return {"target": {"kind": "Deployment", "name": deployment}, "patch": json.dumps(smp)}


def app(kustomize: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> Any:
    source: dict[str, Any] = {"repoURL": "file:///x", "path": "."}
    if kustomize:
        source["kustomize"] = kustomize
    return {
        "metadata": {"name": "dev-api-auth", "namespace": "argocd",
                     "annotations": {**ANNOTATIONS, **(annotations or {})}},
        "spec": {"source": source, "destination": {"namespace": "auth"}},
    }  # fmt: skip


def deployment(name: str, labels: dict[str, str], image: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}",
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }  # fmt: skip


STABLE_DEP = deployment("auth-stable", {"app": "auth-api", "version": "v1"}, f"{REPO}@{D1}")
CANARY_DEP = deployment("auth-canary", {"app": "auth-api", "version": "v2"}, f"{REPO}@{D2}")


def test_no_pin_when_the_source_tag_applies() -> None:
    assert current_pin(app(), CANARY) is None


def test_deploy_canary_patch_is_read_back_for_its_deployment() -> None:
    pinned = app({"patches": [patch("auth-canary", f"{REPO}@{D2}")]})
    assert current_pin(pinned, CANARY) == Pin(
        "spec.source.kustomize.patches", f"{REPO}@{D2}", None, D2, "auth-canary"
    )


def test_two_patches_on_one_repository_need_the_deployment() -> None:
    pinned = app({"patches": [patch("auth-stable", f"{REPO}@{D1}"),
                              patch("auth-canary", f"{REPO}@{D2}")]})  # fmt: skip
    with pytest.raises(AmbiguousPin):
        current_pin(pinned, CANARY)
    assert current_pin(pinned, CANARY, "auth-canary").digest == D2  # type: ignore[union-attr]
    assert current_pin(pinned, STABLE, "auth-stable").digest == D1  # type: ignore[union-attr]


def test_image_updater_kustomize_images_entry_with_tag_and_digest() -> None:
    pinned = app({"images": [f"{REPO}:auth-api-dev-canary@{D2}"]})
    pin = current_pin(pinned, CANARY)
    assert pin is not None and (pin.tag, pin.digest) == ("auth-api-dev-canary", D2)


def test_alias_specific_image_name_wins_over_a_patch() -> None:
    annotations = {U + "canary.kustomize.image-name": "eco2-canary"}
    pinned = app(
        {"images": [f"eco2-canary={REPO}:c@{D1}"],
         "patches": [patch("auth-canary", f"{REPO}@{D2}")]}, annotations,
    )  # fmt: skip
    assert current_pin(pinned, parse_annotations({**ANNOTATIONS, **annotations}).image("canary"))
    assert current_pin(pinned, CANARY).digest == D2  # type: ignore[union-attr]


def test_a_canary_name_entry_is_never_the_stable_pin() -> None:
    """``eco2-canary=<repo>@D2`` applies to images named eco2-canary (kustomize matches an
    entry by its name, not its newName): the stable alias, named <repo>, is not pinned by it."""
    annotations = {U + "canary.kustomize.image-name": "eco2-canary"}
    pinned = app({"images": [f"eco2-canary={REPO}@{D2}"]}, annotations)
    config = parse_annotations({**ANNOTATIONS, **annotations})
    assert current_pin(pinned, config.image("stable")) is None
    assert current_pin(pinned, config.image("canary")).digest == D2  # type: ignore[union-attr]


def test_helm_tag_parameter_with_digest() -> None:
    a = app()
    a["spec"]["source"]["helm"] = {"parameters": [{"name": "image.tag", "value": f"main@{D1}"}]}
    pin = current_pin(a, CANARY)
    assert pin is not None and (pin.tag, pin.digest) == ("main", D1)


def test_workloads_canary_by_convention_stable_by_remaining_image() -> None:
    found = resolve_workloads(app(), CONFIG.images, [STABLE_DEP, CANARY_DEP], service="auth")
    assert found["canary"] == Workload("auth-canary", "app", "app=auth-api,version=v2", "selector")
    assert found["stable"] == Workload("auth-stable", "app", "app=auth-api,version=v1", "image")


def test_workload_selector_annotation_and_missing_workload() -> None:
    annotated = app(annotations={"pipeline.dev/stable.selector": "version=v1"})
    found = resolve_workloads(annotated, CONFIG.images, [STABLE_DEP], service="auth")
    assert isinstance(found["stable"], Workload) and found["stable"].deployment == "auth-stable"
    assert getattr(found["canary"], "reason", "") == "workload-not-found"


def pod(name: str, template_hash: str, image_id: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"pod-template-hash": template_hash}},
        "status": {"containerStatuses": [{"name": "app", "imageID": image_id, "ready": ready}]},
    }


def test_pod_images_only_of_the_newest_replicaset() -> None:
    owner = [{"uid": "uid-auth-canary", "controller": True}]
    rs = {"metadata": {"labels": {"pod-template-hash": "new"}, "ownerReferences": owner,
                       "annotations": {"deployment.kubernetes.io/revision": "2"}}}  # fmt: skip
    pods = [
        pod("old-1", "old", f"{REPO}@{D1}"),
        pod("new-1", "new", f"docker-pullable://{REPO}@{D2}"),
    ]
    assert pod_images(CANARY_DEP, [rs], pods, "app") == [
        PodImage("new-1", f"docker-pullable://{REPO}@{D2}", D2, True)
    ]


PIN2 = Pin("f", f"{REPO}@{D2}", None, D2, "auth-canary")


@pytest.mark.parametrize(
    ("registry", "pin", "pods", "agree", "reason"),
    [
        (D2, PIN2, [D2, D2], True, "agree"),
        (D2, None, [D2], True, "agree"),
        (D2, None, [D1], False, "pods-behind"),  # pushed, pods still run the older image
        (D1, PIN2, [D2], False, "registry-ahead"),
        (D2, PIN2, [D1], False, "pods-behind"),
        (D2, PIN2, [], False, "no-pods"),
        (D2, PIN2, [None], False, "pods-starting"),
        (None, PIN2, [D2], False, "registry-unknown"),
    ],
)
def test_agreement(
    registry: str | None, pin: Pin | None, pods: list[str | None], agree: bool, reason: str
) -> None:
    observed = [PodImage(f"p{i}", d or "", d, True) for i, d in enumerate(pods)]
    result = judge(registry, pin, observed)
    assert (result.agree, result.reason) == (agree, reason)


def test_a_pin_the_live_template_does_not_carry_is_not_fixed_by_a_sync() -> None:
    pin = Pin("spec.source.kustomize.patches", f"{REPO}@{D2}", None, D2, "auth-canary")
    pods = [PodImage("auth-canary-x", f"{REPO}@{D1}", D1, True)]
    verdict = judge(D2, pin, pods, f"{REPO}:auth-api-dev-latest")
    assert (verdict.agree, verdict.reason) == (False, "pin-not-rendered")
    assert "does not fix it" in verdict.message
    behind = judge(D2, pin, pods, f"{REPO}@{D2}")  # template carries it: pods not rolled yet
    assert behind.reason == "pods-behind"
