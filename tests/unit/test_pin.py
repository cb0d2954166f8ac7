"""Pin: which field is written, with exactly which value and merge-patch body."""

from __future__ import annotations

import json
from typing import Any

from pipeline.core.pin import PinWrite, plan_pin
from pipeline.core.plan import plan_service
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget
from pipeline.errors import Problem

DIGEST = "sha256:" + "e" * 64
REPO = "127.0.0.1:5000/eco2"
U = "argocd-image-updater.argoproj.io/"
PREVIOUS = "pipeline.dev/canary-previous"
TARGET = ServiceTarget(name="auth", image=REPO, tag="{service}-api-dev-canary")
PLAN = plan_service(
    TARGET, DeploySettings(services=(TARGET,), run=RunSettings(run_id="r1", started_ns=5))
)
DEPLOYMENT = {
    "metadata": {"name": "auth-api-canary"},
    "spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "127.0.0.1:5000/envoy:1"},
        {"name": "auth-api", "image": f"{REPO}:auth-api-dev-canary"},
    ]}}},
}  # fmt: skip
RUN_ANNOTATIONS = {
    "pipeline.dev/canary-run": "00000000000000000005-r1",
    "pipeline.dev/canary-digest": DIGEST,
}
RUN_META = {"resourceVersion": "41", "annotations": RUN_ANNOTATIONS}


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def app(source: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "dev-api-auth", "resourceVersion": "41",
                     "annotations": annotations or {}},
        "spec": {"source": source},
    }  # fmt: skip


def test_kustomize_patch_targets_only_the_canary_and_keeps_other_patches() -> None:
    other = {"target": {"kind": "Service", "name": "auth"}, "patch": "[]"}
    stale = {"target": {"kind": "Deployment", "name": "auth-api-canary"}, "patch": "old"}
    source = {"repoURL": "file:///x", "path": "overlays/dev",
              "kustomize": {"patches": [other, stale]}}  # fmt: skip
    pin = plan_pin(app(source), PLAN, DIGEST, DEPLOYMENT)
    assert isinstance(pin, PinWrite)
    smp = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "auth-api-canary"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "auth-api", "image": f"{REPO}@{DIGEST}"}]}}},
    }  # fmt: skip
    entry = {
        "target": {"group": "apps", "version": "v1", "kind": "Deployment",
                   "name": "auth-api-canary"},
        "patch": json.dumps(smp),
    }  # fmt: skip
    assert (pin.method, pin.field, pin.container) == (
        "kustomize-patch",
        "spec.source.kustomize.patches",
        "auth-api",
    )
    replaced = {"field": "spec.source.kustomize.patches", "entries": [stale]}
    annotations = {**RUN_ANNOTATIONS, PREVIOUS: dumps(replaced)}
    meta = {**RUN_META, "annotations": annotations}
    assert pin.body == {
        "metadata": meta,
        "spec": {"source": {"kustomize": {"patches": [other, entry]}}},
    }
    assert pin.present_in({"spec": {"source": {"kustomize": {"patches": [entry]}}}})
    assert not pin.present_in(app(source))


def test_canary_specific_image_name_uses_kustomize_images() -> None:
    annotations = {
        f"{U}image-list": f"stable={REPO}:auth-api-dev-latest,canary={REPO}:auth-api-dev-canary",
        f"{U}update-strategy": "digest",
        f"{U}canary.kustomize.image-name": "eco2-canary",
    }
    source = {"kustomize": {"images": ["eco2-canary=old:1", "other=x:1"]}}
    pin = plan_pin(app(source, annotations), PLAN, DIGEST, DEPLOYMENT)
    assert isinstance(pin, PinWrite)
    assert pin.method == "kustomize-image"
    assert pin.body["spec"] == {
        "source": {"kustomize": {"images": [
            f"eco2-canary={REPO}:auth-api-dev-canary@{DIGEST}", "other=x:1"]}}
    }  # fmt: skip
    assert json.loads(pin.body["metadata"]["annotations"][PREVIOUS]) == {
        "field": "spec.source.kustomize.images",
        "entries": ["eco2-canary=old:1"],
    }


def test_helm_parameters_in_image_updater_format() -> None:
    source = {"chart": "auth", "helm": {"parameters": [
        {"name": "replicas", "value": "1"}, {"name": "image.tag", "value": "old"}]}}  # fmt: skip
    pin = plan_pin(app(source), PLAN, DIGEST, DEPLOYMENT)
    assert isinstance(pin, PinWrite)
    assert pin.method == "helm"
    assert pin.body["spec"]["source"]["helm"]["parameters"] == [
        {"name": "replicas", "value": "1"},
        {"name": "image.tag", "value": f"auth-api-dev-canary@{DIGEST}", "forceString": True},
        {"name": "image.name", "value": REPO, "forceString": True},
    ]
    assert json.loads(pin.body["metadata"]["annotations"][PREVIOUS]) == {
        "field": "spec.source.helm.parameters",
        "entries": [{"name": "image.tag", "value": "old"}],
    }


def test_helm_image_spec_annotation() -> None:
    annotations = {f"{U}image-list": f"api={REPO}", f"{U}api.helm.image-spec": "canary.image"}
    pin = plan_pin(app({"chart": "auth"}, annotations), PLAN, DIGEST, DEPLOYMENT)
    assert isinstance(pin, PinWrite)
    assert pin.body["spec"]["source"]["helm"]["parameters"] == [
        {"name": "canary.image", "value": f"{REPO}:auth-api-dev-canary@{DIGEST}",
         "forceString": True}
    ]  # fmt: skip


def test_multi_source_sends_every_source() -> None:
    doc = app({})
    del doc["spec"]["source"]
    doc["spec"]["sources"] = [
        {"repoURL": "values", "ref": "v"},
        {"repoURL": "file:///x", "kustomize": {"namePrefix": "p-"}},
    ]
    pin = plan_pin(doc, PLAN, DIGEST, DEPLOYMENT)
    assert isinstance(pin, PinWrite)
    assert pin.field == "spec.sources[1].kustomize.patches"
    sources = pin.body["spec"]["sources"]
    assert sources[0] == {"repoURL": "values", "ref": "v"}
    assert sources[1]["kustomize"]["namePrefix"] == "p-"
    assert len(sources[1]["kustomize"]["patches"]) == 1


def test_ambiguous_container_is_a_problem() -> None:
    deployment = {"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [
        {"name": "a", "image": "x/a:1"}, {"name": "b", "image": "x/b:1"}]}}}}  # fmt: skip
    problem = plan_pin(app({"kustomize": {}}), PLAN, DIGEST, deployment)
    assert isinstance(problem, Problem)
    assert problem.reason == "canary-container-ambiguous"
