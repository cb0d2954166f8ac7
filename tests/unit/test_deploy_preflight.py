"""Preflight (pipeline/deploy/preflight.py) with in-memory ports: every problem at once, each
with its fix, and nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.core.plan import plan_service
from pipeline.core.ports import Dependencies
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget
from pipeline.deploy.access import check_access
from pipeline.deploy.preflight import run_preflight
from pipeline.errors import (
    ExitCode,
    KubeAccessError,
    KustomizeError,
    PreflightError,
    SourceUnavailable,
)
from tests.unit.fake_argocd import FakeApplications, FakeCluster

DIGEST = "sha256:" + "c" * 64
REPO = "127.0.0.1:5000/eco2"
TARGET = ServiceTarget(name="auth", image=REPO, tag="{service}-api-dev-canary")
PLAN = plan_service(
    TARGET, DeploySettings(services=(TARGET,), run=RunSettings(run_id="r1", started_ns=5))
)


def deployment(name: str, version: str, image: str) -> dict[str, Any]:
    labels = {"app": "auth-api", "version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "auth", "uid": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "auth-api", "image": image}]},
            },
        },
    }


STABLE = deployment("auth-api-stable", "v1", f"{REPO}:auth-api-dev-latest")
CANARY = deployment("auth-api-canary", "v2", f"{REPO}:auth-api-dev-canary")


def application(
    repo_url: str = "https://git.example.com/gitops.git", **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": "dev-api-auth", "namespace": "argocd", **meta},
        "spec": {"source": {"repoURL": repo_url, "path": "overlays/dev"}},
    }


def preflight(apps: FakeApplications, cluster: FakeCluster, render: Any = None) -> Any:
    return run_preflight(apps, cluster, PLAN, DIGEST, render=render)


def problems_of(apps: FakeApplications, cluster: FakeCluster, render: Any = None) -> list[str]:
    with pytest.raises(PreflightError) as caught:
        preflight(apps, cluster, render)
    assert all(p.fix for p in caught.value.problems)
    assert apps.patches == []  # nothing is ever written by preflight
    return [p.reason for p in caught.value.problems]


def test_a_good_setup_passes_and_decides_the_pin() -> None:
    result = preflight(FakeApplications(application()), FakeCluster([STABLE, CANARY]))
    assert result.deployment["metadata"]["name"] == "auth-api-canary"
    assert result.pin.field == "spec.source.kustomize.patches"
    assert f"{REPO}@{DIGEST}" in result.pin.entry["patch"]
    assert result.rendered is False  # no renderer was given: a finding, never silence
    assert result.render_note == "no renderer is configured"


def test_missing_application_and_workload_are_reported_together() -> None:
    reasons = problems_of(FakeApplications(None), FakeCluster([STABLE]))
    assert reasons == ["application-not-found", "canary-workload-not-found"]


def test_two_deployments_matching_the_selector_are_ambiguous() -> None:
    twin = deployment("auth-api-canary-2", "v2", f"{REPO}:auth-api-dev-canary")
    reasons = problems_of(FakeApplications(application()), FakeCluster([CANARY, twin]))
    assert reasons == ["canary-workload-ambiguous"]


OWNER = {"ownerReferences": [{"kind": "ApplicationSet", "name": "dev-api", "uid": "u"}]}


@pytest.mark.parametrize(
    ("rules", "ok"),
    [
        ([], False),
        ([{"jsonPointers": ["/spec/source/kustomize/images"]}], False),  # image-updater's rule
        ([{"jsonPointers": ["/spec/source/kustomize/patches"]}], True),
        ([{"jsonPointers": ["/spec/source/kustomize"]}], True),
        ([{"name": "dev-api-users", "jsonPointers": ["/spec/source"]}], False),
        ([{"name": "dev-api-auth", "jqPathExpressions": [".spec.source.kustomize"]}], True),
    ],
)
def test_an_owning_applicationset_must_ignore_the_field_we_write(
    rules: list[dict[str, Any]], ok: bool
) -> None:
    appset = {"spec": {"ignoreApplicationDifferences": rules}}
    apps = FakeApplications(application(**OWNER), {"dev-api": appset})
    if ok:
        preflight(apps, FakeCluster([STABLE, CANARY]))
    else:
        assert problems_of(apps, FakeCluster([STABLE, CANARY])) == ["appset-reverts-pin"]


def local_render(manifests: list[dict[str, Any]]) -> Any:
    def render(source: dict[str, Any]) -> list[dict[str, Any]]:
        assert source["path"] == "overlays/dev"
        assert f"{REPO}@{DIGEST}" in json.dumps(source["kustomize"])  # with our pin applied
        return manifests

    return render


@pytest.fixture
def local_app() -> dict[str, Any]:
    return application()


def pinned(dep: dict[str, Any], image: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(dep))
    copy["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return copy


def test_render_that_rewrites_the_canary_image_is_caught(local_app: dict[str, Any]) -> None:
    rewritten = [STABLE, pinned(CANARY, f"{REPO}:auth-api-dev-latest")]
    reasons = problems_of(
        FakeApplications(local_app), FakeCluster([STABLE, CANARY]), local_render(rewritten)
    )
    assert reasons == ["override-rewrote-image"]


def test_render_that_would_also_pin_stable_is_caught(local_app: dict[str, Any]) -> None:
    both = [pinned(STABLE, f"{REPO}@{DIGEST}"), pinned(CANARY, f"{REPO}@{DIGEST}")]
    reasons = problems_of(
        FakeApplications(local_app), FakeCluster([STABLE, CANARY]), local_render(both)
    )
    assert reasons == ["pin-reaches-stable"]


def test_a_clean_render_passes_and_is_recorded(local_app: dict[str, Any]) -> None:
    good = [STABLE, pinned(CANARY, f"{REPO}@{DIGEST}")]
    result = preflight(
        FakeApplications(local_app), FakeCluster([STABLE, CANARY]), local_render(good)
    )
    assert (result.rendered, result.render_note) == (True, "")


def unrenderable(source: dict[str, Any]) -> list[dict[str, Any]]:
    raise SourceUnavailable("git.example.com: cannot render here: it is a Helm source")


def test_an_unrenderable_source_is_a_note_or_with_require_render_a_problem() -> None:
    apps, cluster = FakeApplications(application()), FakeCluster([STABLE, CANARY])
    result = run_preflight(apps, cluster, PLAN, DIGEST, render=unrenderable)
    assert not result.rendered and "Helm source" in result.render_note
    with pytest.raises(PreflightError) as caught:
        run_preflight(apps, cluster, PLAN, DIGEST, render=unrenderable, require_render=True)
    (problem,) = caught.value.problems
    assert problem.reason == "source-not-rendered" and "Helm source" in problem.message
    assert caught.value.exit_code == ExitCode.MISCONFIGURED


def test_a_broken_overlay_is_a_misconfiguration() -> None:
    def broken(source: dict[str, Any]) -> list[dict[str, Any]]:
        raise KustomizeError("kubectl kustomize exited 1: missing resource ../../base")

    reasons = problems_of(FakeApplications(application()), FakeCluster([STABLE, CANARY]), broken)
    assert reasons == ["source-render-failed"]


NO_REGISTRY: Any = None  # access reviews never read the registry


def test_missing_permissions_are_reported_together() -> None:
    cluster = FakeCluster([STABLE, CANARY], denied=frozenset({"patch applications", "watch pods"}))
    with pytest.raises(KubeAccessError) as caught:
        check_access(Dependencies(FakeApplications(application()), cluster, NO_REGISTRY), PLAN)
    error = caught.value
    assert error.exit_code == ExitCode.KUBE_ACCESS
    assert error.message == (
        "this identity may not: patch applications.argoproj.io in namespace argocd; "
        "watch pods in namespace auth"
    )
    assert "resources: [applications], verbs: [patch]" in error.hint
    assert "namespace: auth" in error.hint


def test_a_cluster_that_cannot_review_access_is_not_blocked() -> None:
    class NoReviews(FakeCluster):
        def can_i(self, verb: str, group: str, resource: str, namespace: str) -> bool | None:
            return None

    deps = Dependencies(FakeApplications(application()), NoReviews([STABLE, CANARY]), NO_REGISTRY)
    check_access(deps, PLAN)  # raises nothing


def test_a_missed_canary_is_named_with_the_selector_that_would_match() -> None:
    labelled = deployment("auth-api-canary", "canary", f"{REPO}:auth-api-dev-canary")
    with pytest.raises(PreflightError) as caught:
        preflight(FakeApplications(application()), FakeCluster([STABLE, labelled]))
    (problem,) = caught.value.problems
    assert problem.reason == "canary-workload-not-found"
    assert "auth-api-canary (--selector app=auth-api,version=canary)" in problem.message
    assert "auth-api-stable" not in problem.message  # the canary-looking one is named alone


def test_a_canary_scaled_to_zero_is_a_finding() -> None:
    zero = json.loads(json.dumps(CANARY))
    zero["spec"]["replicas"] = 0
    reasons = problems_of(FakeApplications(application()), FakeCluster([STABLE, zero]))
    assert reasons == ["canary-scaled-to-zero"]
