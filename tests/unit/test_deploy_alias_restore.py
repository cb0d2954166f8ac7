"""The pin records what it replaced (pipeline.dev/canary-previous) and cleanup-canary's
decision puts it back: pin -> (redeploy) -> cleanup gives the original list, for every method."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.cleanup.plan import plan_cleanup
from pipeline.core.pin import PinWrite, plan_pin
from pipeline.core.plan import PREVIOUS_ANNOTATION, plan_service
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget
from tests.unit.fake_argocd import merge_patch

U = "argocd-image-updater.argoproj.io/"
REPO = "127.0.0.1:5000/eco2"
TAG = "auth-api-dev-canary"
FIRST, SECOND = "sha256:" + "1" * 64, "sha256:" + "2" * 64
DEPLOYMENT = {
    "metadata": {"name": "auth-api-canary"},
    "spec": {"template": {"spec": {"containers": [{"name": "api", "image": f"{REPO}:{TAG}"}]}}},
}
ANNOTATIONS = {
    f"{U}image-list": f"stable={REPO}:auth-api-dev-latest,canary={REPO}:{TAG}",
    f"{U}update-strategy": "digest",
    f"{U}canary.kustomize.image-name": "eco2-canary",
    f"{U}canary.helm.image-tag": "canary.tag",
}
USER_PATCH = {"target": {"kind": "Deployment", "name": "auth-api-canary"}, "patch": "[]"}
CASES: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    "kustomize-image": (
        {"kustomize": {"images": ["other=x:1", f"eco2-canary={REPO}:{TAG}", "z=y:2"]}},
        ("kustomize", "images"),
    ),
    "helm": (
        {"chart": "auth", "helm": {"parameters": [
            {"name": "canary.tag", "value": "v1"}, {"name": "replicas", "value": "2"}]}},
        ("helm", "parameters"),
    ),
    "kustomize-patch": ({"kustomize": {"patches": [USER_PATCH]}}, ("kustomize", "patches")),
}  # fmt: skip


def plan(started_ns: int) -> Any:
    target = ServiceTarget(name="auth", image=REPO, tag=TAG, alias="canary")
    run = RunSettings(run_id=f"r{started_ns}", started_ns=started_ns)
    return plan_service(target, DeploySettings(services=(target,), run=run))


def application(source: dict[str, Any]) -> dict[str, Any]:
    meta = {"name": "dev-api-auth", "resourceVersion": "1", "annotations": dict(ANNOTATIONS)}
    return {"metadata": meta, "spec": {"source": {"repoURL": "file:///g", "path": "o", **source}}}


def pinned(app: dict[str, Any], digest: str, started_ns: int, method: str) -> dict[str, Any]:
    pin = plan_pin(app, plan(started_ns), digest, DEPLOYMENT, method)
    assert isinstance(pin, PinWrite) and pin.method == method
    result: dict[str, Any] = merge_patch(app, pin.body)
    return result


@pytest.mark.parametrize("method", list(CASES))
def test_deploy_redeploy_cleanup_restores_the_original_list(method: str) -> None:
    source, (section, key) = CASES[method]
    original = application(source)
    once = pinned(original, FIRST, 1, method)
    recorded = json.loads(once["metadata"]["annotations"][PREVIOUS_ANNOTATION])
    assert recorded["field"] == f"spec.source.{section}.{key}"
    twice = pinned(once, SECOND, 2, method)
    again = json.loads(twice["metadata"]["annotations"][PREVIOUS_ANNOTATION])
    assert (again["field"], again["entries"]) == (recorded["field"], recorded["entries"])
    assert "pinned" not in again  # the first digest was replaced (forgotten), the second is
    # the annotation canary-digest's

    cleanup = plan_cleanup(twice, plan(3).repository, TAG)

    assert cleanup is not None and SECOND in json.dumps(cleanup.removed)
    restored = merge_patch(twice, cleanup.body)
    assert restored["spec"] == original["spec"]
    assert restored["metadata"]["annotations"] == ANNOTATIONS
    assert plan_cleanup(restored, plan(3).repository, TAG) is None


def test_the_record_holds_exactly_the_replaced_entries() -> None:
    source, _ = CASES["kustomize-image"]
    once = pinned(application(source), FIRST, 1, "kustomize-image")
    assert once["spec"]["source"]["kustomize"]["images"] == [
        "other=x:1", f"eco2-canary={REPO}:{TAG}@{FIRST}", "z=y:2"
    ]  # fmt: skip
    assert json.loads(once["metadata"]["annotations"][PREVIOUS_ANNOTATION]) == {
        "field": "spec.source.kustomize.images",
        "entries": [f"eco2-canary={REPO}:{TAG}"],
    }


def test_a_pin_that_replaced_nothing_writes_no_record() -> None:
    once = pinned(application({"kustomize": {"images": ["other=x:1"]}}), FIRST, 1,
                  "kustomize-image")  # fmt: skip
    assert PREVIOUS_ANNOTATION not in once["metadata"]["annotations"]
    cleanup = plan_cleanup(once, plan(3).repository, TAG)
    assert cleanup is not None
    assert merge_patch(once, cleanup.body)["spec"]["source"]["kustomize"]["images"] == ["other=x:1"]


STABLE = "sha256:" + "5" * 64
STABLE_TAG = "auth-api-dev-latest"
STABLE_DEPLOYMENT = {
    "metadata": {"name": "auth-api"},
    "spec": {
        "template": {"spec": {"containers": [{"name": "api", "image": f"{REPO}:{STABLE_TAG}"}]}}
    },
}


def stable_pinned(app: dict[str, Any], digest: str, started_ns: int) -> dict[str, Any]:
    target = ServiceTarget(name="auth", image=REPO, tag=STABLE_TAG, alias="stable")
    run = RunSettings(run_id=f"s{started_ns}", started_ns=started_ns)
    stable = plan_service(target, DeploySettings(services=(target,), run=run))
    pin = plan_pin(app, stable, digest, STABLE_DEPLOYMENT, "kustomize-patch")
    assert isinstance(pin, PinWrite)
    result: dict[str, Any] = merge_patch(app, pin.body)
    return result


def test_canary_then_stable_then_canary_cleanup_keeps_the_stable_pin() -> None:
    """Issue 13: deploy, a stable-alias deploy, deploy again, cleanup. The second canary pin
    must not take the first for what the canary replaced, and cleanup must remove the canary's
    patch only: no old PR image put back, the stable pin kept, its digest still recorded."""
    app = pinned(application({}), FIRST, 1, "kustomize-patch")
    app = stable_pinned(app, STABLE, 2)
    app = pinned(app, SECOND, 3, "kustomize-patch")
    record = json.loads(app["metadata"]["annotations"][PREVIOUS_ANNOTATION])
    assert record["entries"] == [] and set(record["pinned"]) == {STABLE, SECOND}

    cleanup = plan_cleanup(app, plan(4).repository, TAG, canaries={"auth-api-canary"})

    assert cleanup is not None
    assert SECOND in json.dumps(cleanup.removed) and cleanup.restored == []
    after = merge_patch(app, cleanup.body)
    patches = after["spec"]["source"]["kustomize"]["patches"]
    assert [p["target"]["name"] for p in patches] == ["auth-api"]
    assert STABLE in patches[0]["patch"] and FIRST not in json.dumps(after["spec"])
    assert after["metadata"]["annotations"]["pipeline.dev/canary-digest"] == STABLE
    assert plan_cleanup(after, plan(5).repository, TAG, canaries={"auth-api-canary"}) is None
