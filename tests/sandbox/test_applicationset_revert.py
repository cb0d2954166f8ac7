"""The sandbox ApplicationSet controller (reference D)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sandbox.sample import sample_applicationset
from tests.fixtures.waiting import wait_for
from tests.sandbox.test_argocd_harness import APPS, APPSETS, ArgoHarness, argo

__all__ = ["argo"]
pytestmark = pytest.mark.integration
D = "sha256:" + "e" * 64


def images(app: dict[str, Any]) -> list[str] | None:
    return app["spec"]["source"].get("kustomize", {}).get("images")


def generated_app(argo: ArgoHarness) -> dict[str, Any]:
    return wait_for("generated app", lambda: argo.kube.get_or_none(f"{APPS}/dev-api-auth"))


def test_generates_the_sample_application_with_owner(argo: ArgoHarness) -> None:
    appset = argo.kube.create(APPSETS, sample_applicationset(argo.sample))
    app = generated_app(argo)
    assert app["spec"] == argo.sample.app_manifest["spec"]
    assert app["metadata"]["annotations"] == argo.sample.app_manifest["metadata"]["annotations"]
    owner = app["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "ApplicationSet",
        "dev-api",
        appset["metadata"]["uid"],
        True,
    )


def test_manual_images_edit_is_reverted(argo: ArgoHarness) -> None:
    argo.kube.create(APPSETS, sample_applicationset(argo.sample))
    generated_app(argo)
    edit = [f"{argo.sample.canary_image}={argo.sample.image_repository}@{D}"]
    argo.kube.patch(f"{APPS}/dev-api-auth", {"spec": {"source": {"kustomize": {"images": edit}}}})
    app = wait_for(
        "edit reverted",
        lambda: (a := argo.kube.get(f"{APPS}/dev-api-auth")) and images(a) is None and a,
    )
    assert app["spec"] == argo.sample.app_manifest["spec"]


def test_ignore_application_differences_keeps_the_edit(argo: ArgoHarness) -> None:
    argo.kube.create(APPSETS, sample_applicationset(argo.sample, ignore_images=True))
    generated_app(argo)
    edit = [f"{argo.sample.canary_image}={argo.sample.image_repository}@{D}"]
    argo.kube.patch(
        f"{APPS}/dev-api-auth",
        {
            "spec": {"source": {"kustomize": {"images": edit}}},
            "metadata": {"labels": {"manual": "x"}},
        },
    )
    # the unrelated label edit is reverted, which proves the controller ran after the edit
    app = wait_for(
        "label reverted",
        lambda: (
            (a := argo.kube.get(f"{APPS}/dev-api-auth"))
            and "manual" not in (a["metadata"].get("labels") or {})
            and a
        ),
    )
    assert images(app) == edit
