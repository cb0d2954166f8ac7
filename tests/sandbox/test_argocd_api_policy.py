"""The policy.csv matcher of the sandbox Argo CD API server (argo-cd util/rbac semantics)."""

from __future__ import annotations

import pytest

from pipeline.sandbox.argocdapi.policy import (
    Enforcer,
    PolicyError,
    Project,
    glob_match,
    parse_policy,
    policy_csv,
    project_of,
)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*", "dev/app", True),  # no separators: * crosses "/"
        ("dev/*", "dev/app", True),
        ("dev/*", "prod/app", False),
        ("*/*", "dev/app", True),
        ("dev/api-?", "dev/api-1", True),
        ("dev/api-?", "dev/api-10", False),
        ("dev/{api,web}-*", "dev/web-canary", True),
        ("dev/{api,web}-*", "dev/db-canary", False),
        ("dev/[a-c]pp", "dev/bpp", True),
        ("dev/[!a-c]pp", "dev/bpp", False),
        ("update/*", "update/apps/Deployment/ns/x", True),
        ("get", "get", True),
        ("get", "getx", False),
        ("dev/app.x", "dev/appyx", False),  # "." is literal
        (r"dev/\*", "dev/*", True),
        (r"dev/\*", "dev/a", False),
        ("dev/[", "dev/[", False),  # does not compile: no match
    ],
)
def test_glob(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


def test_default_deny_and_builtin_roles() -> None:
    enforcer = Enforcer("")
    assert not enforcer.enforce("ci", [], "applications", "get", "dev/app")
    assert enforcer.enforce("admin", [], "applications", "sync", "dev/app")  # g, admin, role:admin
    assert enforcer.enforce("admin", [], "applications", "get", "any/app")  # inherits readonly
    assert not enforcer.enforce("admin", [], "applications", "invoke", "dev/app")
    assert not enforcer.enforce(None, [], "applications", "get", "dev/app")  # anonymous


def test_policy_default_applies_to_everyone() -> None:
    enforcer = Enforcer("", default_role="role:readonly")
    assert enforcer.enforce("nobody", [], "applications", "get", "dev/app")
    assert enforcer.enforce(None, [], "applications", "get", "dev/app")
    assert not enforcer.enforce("nobody", [], "applications", "sync", "dev/app")


def test_deny_wins_over_allow_in_any_order() -> None:
    policy = """
    p, role:ci, applications, *, */*, allow
    p, ci, applications, sync, prod/*, deny
    g, ci, role:ci
    """
    enforcer = Enforcer(policy)
    assert enforcer.enforce("ci", [], "applications", "sync", "dev/app")
    assert not enforcer.enforce("ci", [], "applications", "sync", "prod/app")
    assert enforcer.enforce("ci", [], "applications", "get", "prod/app")
    # the deny on the role reaches every member
    enforcer = Enforcer("p, role:ci, applications, sync, prod/*, deny\n" + policy)
    assert not enforcer.enforce("ci", [], "applications", "sync", "prod/app")


def test_role_inheritance_is_transitive() -> None:
    policy = """
    p, role:base, applications, get, dev/*, allow
    g, role:deployer, role:base
    g, ci, role:deployer
    """
    enforcer = Enforcer(policy)
    assert enforcer.enforce("ci", [], "applications", "get", "dev/app")
    assert not enforcer.enforce("ci", [], "applications", "get", "prod/app")
    assert not enforcer.enforce("role:other", [], "applications", "get", "dev/app")


def test_groups_need_a_g_line() -> None:
    enforcer = Enforcer("p, devs, applications, get, dev/*, allow\ng, devs, role:readonly")
    assert enforcer.enforce("alice", ["devs"], "applications", "get", "prod/app")
    unbound = Enforcer("p, devs, applications, get, dev/*, allow")
    assert not unbound.enforce("alice", ["devs"], "applications", "get", "dev/app")


def test_project_token_only_within_its_project() -> None:
    dev = Project(
        "dev",
        (
            {
                "name": "ci",
                "policies": [
                    "p, proj:dev:ci, applications, get, dev/*, allow",
                    "p, proj:dev:ci, applications, sync, dev/*, allow",
                ],
            },
        ),
    )
    enforcer = Enforcer("")
    assert enforcer.enforce("proj:dev:ci", [], "applications", "sync", "dev/app", dev)
    assert enforcer.enforce("proj:dev:ci", [], "projects", "get", "dev", dev)  # implicit
    assert not enforcer.enforce("proj:dev:ci", [], "applications", "update", "dev/app", dev)
    other = Project("prod", ({"name": "ci", "policies": []},))
    assert not enforcer.enforce("proj:dev:ci", [], "applications", "get", "prod/app", other)
    assert not enforcer.enforce("proj:dev:ci", [], "applications", "get", "prod/app", None)


def test_parse_rejects_malformed_lines() -> None:
    with pytest.raises(PolicyError, match="invalid RBAC policy"):
        parse_policy("p, ci, applications, get, dev/*")
    with pytest.raises(PolicyError, match="invalid RBAC policy"):
        parse_policy("x, ci, role:admin")
    parsed = parse_policy('# comment\n\np, ci, applications, get, "dev/*", allow\n')
    assert parsed.rules[0].obj == "dev/*"


def test_policy_csv_appends_extra_keys_sorted() -> None:
    data = {"policy.csv": "a", "policy.z.csv": "z", "policy.b.csv": "b", "policy.default": "x"}
    assert policy_csv(data) == "a\nb\nz"


def test_project_of() -> None:
    assert project_of("applications", "dev/app") == "dev"
    assert project_of("applications", "dev/ns/app") == "dev"
    assert project_of("applications", "*") is None
    assert project_of("projects", "dev") == "dev"
    assert project_of("accounts", "ci") is None
