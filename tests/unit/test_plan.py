"""Plan: templating, tag defaults, sync operation body."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.plan import operation_is_ours, plan_service, render_template, sync_operation
from pipeline.core.settings import BuildSettings, DeploySettings, RunSettings, ServiceTarget
from pipeline.errors import UsageError

DIGEST = "sha256:" + "c" * 64


def settings(target: ServiceTarget, revision: str = "", pr: str = "") -> DeploySettings:
    return DeploySettings(
        services=(target,),
        build=BuildSettings(revision=revision, pr=pr),
        run=RunSettings(run_id="gh-42-1", started_ns=1_700_000_000_000_000_000, timeout=120),
    )


def test_defaults_follow_the_convention() -> None:
    target = ServiceTarget(name="auth", image="registry.example.com/team/eco2")
    plan = plan_service(target, settings(target, revision="0123456789abcdef", pr="7"))
    assert str(plan.image) == "registry.example.com/team/eco2:auth-dev-canary"
    assert plan.tags == ("auth-dev-canary", "auth-dev-canary-0123456")
    assert (plan.app, plan.namespace, plan.selector) == (
        "dev-api-auth",
        "auth",
        "app=auth-api,version=v2",
    )
    assert plan.run_key == "01700000000000000000-gh-42-1"
    assert plan.pinned(DIGEST) == f"registry.example.com/team/eco2@{DIGEST}"


@pytest.mark.parametrize(
    ("tag", "revision", "tags"),
    [
        ("{service}-api-dev-canary", "", ("users-api-dev-canary",)),
        ("{service}-api-dev-canary", "abcdef123", ("users-api-dev-canary",
                                                  "users-api-dev-canary-abcdef1")),
        ("pr-{pr}-{short_sha}", "abcdef123", ("pr-9-abcdef1",)),
    ],
)  # fmt: skip
def test_tags(tag: str, revision: str, tags: tuple[str, ...]) -> None:
    target = ServiceTarget(name="users", image="127.0.0.1:5000/eco2", tag=tag)
    assert plan_service(target, settings(target, revision, pr="9")).tags == tags


def test_unknown_template_field_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown field \{team\}"):
        render_template("{team}-x", {"service": "a"})


def test_image_with_tag_is_rejected() -> None:
    target = ServiceTarget(name="a", image="127.0.0.1:5000/eco2:latest", context=Path("."))
    with pytest.raises(UsageError, match="without tag"):
        plan_service(target, settings(target))


def test_sync_operation_body() -> None:
    target = ServiceTarget(name="auth", image="127.0.0.1:5000/eco2")
    plan = plan_service(target, settings(target, pr="7"))
    op = sync_operation(plan, DIGEST, "auth-api-canary")
    assert op == {
        "initiatedBy": {"username": "pipeline-deploy-canary"},
        "info": [
            {"name": "pipeline-run", "value": "gh-42-1"},
            {"name": "pipeline-digest", "value": DIGEST},
            {"name": "pipeline-pr", "value": "7"},
        ],
        "sync": {
            "revision": "",
            "prune": False,
            "syncStrategy": {"hook": {}},
            "resources": [
                {"group": "apps", "kind": "Deployment", "name": "auth-api-canary",
                 "namespace": "auth"}
            ],
        },
        "retry": {"limit": 0},
    }  # fmt: skip
    assert operation_is_ours(op, plan, DIGEST)
    assert not operation_is_ours(op, plan, "sha256:" + "d" * 64)
