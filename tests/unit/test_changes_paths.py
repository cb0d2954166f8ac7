"""Path globs, ``git diff --name-status -z`` parsing and service selection (pipeline/changes.py),
and the CI decision from pull_request payloads (pipeline/github_event.py)."""

from __future__ import annotations

import pytest

from pipeline.changes import (
    FileChange,
    github_matrix,
    matches,
    parse_name_status,
    select_services,
    service_paths,
)
from pipeline.errors import UsageError
from pipeline.github_event import decide


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("services/auth/**", "services/auth/main.py", True),
        ("services/auth/**", "services/auth/a/b/c.txt", True),
        ("services/auth/**", "services/authz/main.py", False),
        ("services/auth/", "services/auth/x", True),
        ("**/*.proto", "api/v1/user.proto", True),
        ("**/*.proto", "user.proto", True),
        ("libs/*/setup.py", "libs/common/setup.py", True),
        ("libs/*/setup.py", "libs/common/sub/setup.py", False),
        ("Dockerfile.?", "Dockerfile.a", True),
        ("a+b@c.txt", "a+b@c.txt", True),
        ("docs/*.md", "docs/x.mdx", False),
    ],
)
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert matches(pattern, path) is expected


def test_name_status_with_renames_copies_and_deletions() -> None:
    raw = "M\0a.py\0R087\0old/x.py\0new/x.py\0D\0gone.txt\0C100\0src.py\0copy.py\0A\0sp ace.txt\0"
    assert parse_name_status(raw) == (
        FileChange("M", "a.py"),
        FileChange("R", "new/x.py", old_path="old/x.py"),
        FileChange("D", "gone.txt"),
        FileChange("C", "copy.py", old_path="src.py"),
        FileChange("A", "sp ace.txt"),
    )


def test_rename_selects_both_sides_and_shared_paths_select_several() -> None:
    paths = {"auth": ("services/auth/**", "libs/**"), "users": ("services/users/**", "libs/**")}
    files = [FileChange("R", "services/users/h.py", old_path="services/auth/h.py")]
    assert select_services(files, paths) == {
        "auth": ("services/auth/h.py",),
        "users": ("services/users/h.py",),
    }
    assert set(select_services([FileChange("D", "libs/x.py")], paths)) == {"auth", "users"}
    assert select_services([FileChange("M", "README.md")], paths) == {}


def test_service_paths_follow_services_order_and_reject_bad_shapes() -> None:
    config = {"services": ["b", {"name": "a"}], "paths": {"a": ["x/**"], "c": ["c/**"]}}
    assert service_paths(config) == {"b": (), "a": ("x/**",), "c": ("c/**",)}
    with pytest.raises(UsageError, match="paths of service 'a' must be a list"):
        service_paths({"paths": {"a": "x/**"}})
    with pytest.raises(UsageError, match="'paths' must map"):
        service_paths({"paths": ["x"]})


def test_matrix_shape() -> None:
    assert github_matrix(["auth", "users"]) == {
        "include": [{"service": "auth"}, {"service": "users"}]
    }


def _event(action: str, labels: list[str], label: str | None = None, fork: bool = False) -> dict:
    head_repo = "someone/shop" if fork else "acme/shop"
    event: dict = {
        "action": action,
        "pull_request": {
            "number": 7,
            "labels": [{"name": n} for n in labels],
            "merged": False,
            "head": {"sha": "h" * 40, "repo": {"full_name": head_repo}},
            "base": {"sha": "b" * 40, "repo": {"full_name": "acme/shop"}},
        },
    }
    if label:
        event["label"] = {"name": label}
    return event


@pytest.mark.parametrize(
    ("event", "secrets", "action"),
    [
        (_event("labeled", ["canary"], "canary"), True, "deploy"),
        (_event("labeled", ["canary", "bug"], "bug"), True, "none"),
        (_event("synchronize", ["canary"]), True, "deploy"),
        (_event("synchronize", []), True, "none"),
        (_event("unlabeled", [], "canary"), True, "cleanup"),
        (_event("unlabeled", ["canary"], "bug"), True, "none"),
        (_event("closed", ["canary"]), True, "cleanup"),
        (_event("closed", []), True, "none"),
        (_event("labeled", ["canary"], "canary", fork=True), False, "skip"),
        (_event("closed", ["canary"], fork=True), False, "skip"),
    ],
)
def test_event_decision(event: dict, secrets: bool, action: str) -> None:
    decision = decide(event, "canary", secrets)
    assert decision.action == action
    assert (decision.pr, decision.head_sha, decision.base_sha) == ("7", "h" * 40, "b" * 40)


def test_fork_skip_says_why() -> None:
    decision = decide(_event("labeled", ["canary"], "canary", fork=True), "canary", False)
    assert decision.fork
    assert "no deploy secrets (PR from a fork)" in decision.reason
