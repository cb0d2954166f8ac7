"""deploy-canary's one configuration source: image, tag and write-back target of an alias
(pipeline/core/alias.py), and the failures a bad annotation gives before any build."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.commands.deploy import build_settings, deploy_canary
from pipeline.core.alias import image_config, resolve_target, target_from_annotations
from pipeline.core.plan import plan_service
from pipeline.core.ports import Dependencies
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget, build_targets
from pipeline.deploy.orchestrate import deploy_service
from pipeline.deploy.preflight import shared_tag_problems
from pipeline.errors import AnnotationError, ExitCode, UsageError
from tests.unit.fake_argocd import FakeApplications, FakeCluster

U = "argocd-image-updater.argoproj.io/"
REPO = "127.0.0.1:5000/eco2"
SAMPLE = {
    f"{U}image-list": f"stable={REPO}:auth-api-dev-latest,canary={REPO}:auth-api-dev-canary",
    f"{U}stable.update-strategy": "digest",
    f"{U}canary.update-strategy": "digest",
    f"{U}canary.kustomize.image-name": "eco2-canary",
}
SETTINGS = DeploySettings(services=(), run=RunSettings(run_id="r1", started_ns=5))


def app(annotations: dict[str, str]) -> dict[str, Any]:
    meta = {"name": "dev-api-auth", "namespace": "argocd", "annotations": annotations}
    return {"metadata": meta, "spec": {"source": {"repoURL": "file:///x", "path": "o"}}}


def test_image_and_tag_come_from_the_canary_alias_by_default() -> None:
    target = target_from_annotations(ServiceTarget(name="auth"), app(SAMPLE))
    assert (target.image, target.tag, target.alias) == (REPO, "auth-api-dev-canary", "canary")
    plan = plan_service(target, SETTINGS)
    assert str(plan.image) == f"{REPO}:auth-api-dev-canary"
    assert plan.alias == "canary"


def test_alias_chooses_another_entry_and_a_tag_flag_wins() -> None:
    stable = target_from_annotations(ServiceTarget(name="auth", alias="stable"), app(SAMPLE))
    assert (stable.image, stable.tag) == (REPO, "auth-api-dev-latest")
    flagged = ServiceTarget(name="auth", tag="{service}-pr-canary")
    target = target_from_annotations(flagged, app(SAMPLE))
    assert plan_service(target, SETTINGS).tags[0] == "auth-pr-canary"


def test_an_alias_without_tag_uses_the_default_tag() -> None:
    annotations = {f"{U}image-list": f"canary={REPO}", f"{U}update-strategy": "newest-build"}
    target = target_from_annotations(ServiceTarget(name="auth"), app(annotations))
    assert plan_service(target, SETTINGS).tags[0] == "auth-dev-canary"


def test_unknown_alias_lists_the_defined_ones() -> None:
    with pytest.raises(UsageError, match="no image alias 'preview'") as caught:
        target_from_annotations(ServiceTarget(name="auth", alias="preview"), app(SAMPLE))
    assert "'stable', 'canary'" in caught.value.hint


def test_a_semver_constraint_is_not_a_tag_to_push() -> None:
    annotations = {f"{U}image-list": f"canary={REPO}:^1.2"}
    with pytest.raises(UsageError, match=re.escape("'^1.2', a semver constraint")) as caught:
        target_from_annotations(ServiceTarget(name="auth"), app(annotations))
    assert "--tag" in caught.value.hint


def test_no_image_list_says_what_to_add() -> None:
    with pytest.raises(UsageError, match=re.escape(f"has no {U}image-list")):
        target_from_annotations(ServiceTarget(name="auth"), app({}))


def test_bad_annotations_are_all_named_with_exit_code_2() -> None:
    annotations = {
        **SAMPLE,
        f"{U}canary.update-strategy": "digets",
        f"{U}write-back-method": "gitt",
    }
    with pytest.raises(AnnotationError) as caught:
        target_from_annotations(ServiceTarget(name="auth"), app(annotations))
    assert int(caught.value.exit_code) == int(ExitCode.USAGE) == 2
    keys = {p.message.split(":")[0] for p in caught.value.problems}
    assert {f"{U}canary.update-strategy", f"{U}write-back-method"} <= keys
    assert "digets" in caught.value.message and "gitt" in caught.value.message


def test_resolve_reads_the_application_only_without_an_image() -> None:
    apps = FakeApplications(app(SAMPLE))
    given = ServiceTarget(name="auth", image="127.0.0.1:5000/other")
    assert resolve_target(given, SETTINGS, apps) is given
    resolved = resolve_target(ServiceTarget(name="auth", app="dev-api-auth"), SETTINGS, apps)
    assert resolved.image == REPO
    with pytest.raises(UsageError, match="argocd/dev-api-users to read it from does not exist"):
        resolve_target(ServiceTarget(name="users"), SETTINGS, FakeApplications(None))


def test_write_back_settings_follow_the_alias_else_our_repository() -> None:
    annotations = {
        f"{U}image-list": f"web=nginx:1.25,stable={REPO}:auth-api-dev-latest,"
        f"canary={REPO}:auth-api-dev-canary",
        f"{U}update-strategy": "digest",
        f"{U}stable.helm.image-tag": "stable.tag",
        f"{U}canary.helm.image-tag": "canary.tag",
    }
    unnamed = plan_service(ServiceTarget(name="auth", image=REPO, tag="auth-api-dev-canary"),
                           SETTINGS)  # fmt: skip
    config = image_config(app(annotations), unnamed)
    assert config is not None and config.helm.image_tag == "canary.tag"
    named = plan_service(ServiceTarget(name="auth", image=REPO, alias="stable"), SETTINGS)
    config = image_config(app(annotations), named)
    assert config is not None and config.helm.image_tag == "stable.tag"
    other = plan_service(ServiceTarget(name="auth", image="127.0.0.1:5000/x"), SETTINGS)
    assert image_config(app(annotations), other) is None
    assert image_config(app({}), named) is None


def test_deploy_service_reports_a_bad_annotation_before_building() -> None:
    annotations = {**SAMPLE, f"{U}canary.pull-secret": "pullsecret:argocd"}
    deps = Dependencies(
        applications=FakeApplications(app(annotations)),
        cluster=FakeCluster([]),
        registry=None,  # type: ignore[arg-type]  # never reached
    )
    events: list[object] = []
    result = deploy_service(ServiceTarget(name="auth"), SETTINGS, deps, events.append)
    assert (result.result, result.exit_code, result.reason) == ("failed", 2, "bad-annotation")
    assert result.application == "argocd/dev-api-auth"
    assert [p["message"].split(":")[0] for p in result.problems] == [f"{U}canary.pull-secret"]
    assert "timings" not in result.as_dict() or result.timings == {}


def test_targets_without_image_are_accepted_only_for_deploy() -> None:
    (target,) = build_targets(("auth",), {}, {"alias": "stable"}, image_from_application=True)
    assert (target.image, target.alias) == ("", "stable")
    with pytest.raises(UsageError, match="no image repository"):
        build_targets(("auth",), {}, {})


@pytest.mark.parametrize(
    ("args", "env", "alias"),
    [
        (["--alias", "preview"], {"PIPELINE_ALIAS": "other"}, "preview"),
        ([], {"PIPELINE_ALIAS": "other"}, "other"),
        ([], {}, "stable"),
    ],
)
def test_alias_precedence_flag_env_pipeline_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str],
    alias: str,
) -> None:  # fmt: skip
    config = tmp_path / "pipeline.yaml"
    config.write_text("alias: stable\nservices: [auth]\n")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    ctx = deploy_canary.make_context("deploy-canary", ["--config", str(config), *args])
    with ctx:
        settings = build_settings(ctx, ctx.params, {})
    (target,) = settings.services
    assert (target.name, target.image, target.tag, target.alias) == ("auth", "", "", alias)


def test_pushing_a_tag_another_deployment_runs_is_refused() -> None:
    def deployment(name: str, version: str, tag: str) -> dict[str, Any]:
        labels = {"app": "auth-api", "version": version}
        containers = [{"name": "api", "image": f"{REPO}:{tag}"}]
        template = {"metadata": {"labels": labels}, "spec": {"containers": containers}}
        return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": labels},
                                                      "template": template}}  # fmt: skip

    stable = deployment("auth-api", "v1", "auth-api-dev-latest")
    canary = deployment("auth-api-canary", "v2", "auth-api-dev-canary")
    target = target_from_annotations(ServiceTarget(name="auth", alias="stable"), app(SAMPLE))
    plan = plan_service(target, SETTINGS)
    (problem,) = shared_tag_problems([stable, canary], plan)
    assert problem.reason == "tag-shared-with-other-workload"
    assert problem.message.startswith("Deployment auth-api (not selected by app=auth-api,version")
    canary_plan = plan_service(target_from_annotations(ServiceTarget(name="auth"), app(SAMPLE)),
                               SETTINGS)  # fmt: skip
    assert shared_tag_problems([stable, canary], canary_plan) == []
    assert shared_tag_problems([stable], plan) == []  # no canary selected: preflight says so
