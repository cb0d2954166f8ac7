"""Pure rules of the sandbox Argo CD against the real controller's (issue 10, build item 3):
AppProject permissions, retry and selfHeal back-off, ignoreDifferences, app health."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sandbox.controllers import argocd_backoff as backoff
from pipeline.sandbox.controllers.argocd_health import app_health
from pipeline.sandbox.controllers.argocd_ignore import (
    jq_paths,
    managed_paths,
    normalized,
    respected,
)
from pipeline.sandbox.controllers.argocd_project import (
    destination_permitted,
    glob_match,
    group_kind_permitted,
    normalize_git_url,
    resource_refusal,
    source_permitted,
    validate_permissions,
)

Obj = dict[str, Any]
IN_CLUSTER = ("https://kubernetes.default.svc", "in-cluster")


def project(**spec: Any) -> Obj:
    return {"metadata": {"name": "team-a"}, "spec": spec}


def app_spec(repo: str = "https://github.com/org/gitops.git", **destination: str) -> Obj:
    return {
        "source": {"repoURL": repo, "path": "overlays/dev"},
        "destination": destination or {"server": IN_CLUSTER[0], "namespace": "auth"},
    }


@pytest.mark.parametrize(
    ("pattern", "value", "separators", "expected"),
    [
        ("team-*", "team-a", "", True),
        ("team-*", "other", "", False),
        ("https://github.com/org/*", "https://github.com/org/repo", "/", True),
        ("https://github.com/org/*", "https://github.com/org/a/b", "/", False),
        ("https://github.com/org/**", "https://github.com/org/a/b", "/", True),
        ("{dev,prod}-?", "dev-1", "", True),
        ("[a-c]x", "dx", "", False),
    ],
)
def test_glob_like_gobwas(pattern: str, value: str, separators: str, expected: bool) -> None:
    assert glob_match(pattern, value, separators) is expected


def test_source_repos_globs_and_negation() -> None:
    assert normalize_git_url("git@GitHub.com:Org/Repo.git") == "git@github.com/org/repo"
    assert source_permitted(project(sourceRepos=["*"]), "https://x/y.git")
    assert source_permitted(
        project(sourceRepos=["https://github.com/org/*"]), "https://github.com/org/gitops.git"
    )
    assert not source_permitted(
        project(sourceRepos=["https://github.com/other/*"]), "https://github.com/org/g"
    )
    denied = project(sourceRepos=["*", "!https://github.com/org/secret"])
    assert not source_permitted(denied, "https://github.com/org/secret.git")
    assert source_permitted(denied, "https://github.com/org/gitops")
    assert not source_permitted(project(), "https://github.com/org/gitops")  # no entry: none


def test_destinations_with_globs_and_deny_entries() -> None:
    allowed = project(destinations=[{"server": "*", "namespace": "team-*"}])
    assert destination_permitted(allowed, *IN_CLUSTER, "team-x")
    assert not destination_permitted(allowed, *IN_CLUSTER, "kube-system")
    deny = project(
        destinations=[
            {"server": "*", "namespace": "!kube-system"},
            {"server": "*", "namespace": "*"},
        ]
    )
    assert not destination_permitted(deny, *IN_CLUSTER, "kube-system")
    assert destination_permitted(deny, *IN_CLUSTER, "auth")
    by_name = project(destinations=[{"name": "in-cluster", "namespace": "*"}])
    assert destination_permitted(by_name, *IN_CLUSTER, "auth")


def test_validate_permissions_messages() -> None:
    closed = project(
        sourceRepos=["https://github.com/other/*"],
        destinations=[{"server": "*", "namespace": "team-*"}],
    )
    assert validate_permissions(app_spec(), closed) == [
        "application repo https://github.com/org/gitops.git is not permitted in project 'team-a'",
        "application destination server 'https://kubernetes.default.svc' and namespace 'auth' do "
        "not match any of the allowed destinations in project 'team-a'",
    ]
    open_ = project(sourceRepos=["*"], destinations=[{"server": "*", "namespace": "*"}])
    assert validate_permissions(app_spec(), open_) == []
    assert validate_permissions(app_spec(name="in-cluster", namespace="x"), closed)[1] == (
        "application destination server 'in-cluster' and namespace 'x' do not match any of the "
        "allowed destinations in project 'team-a'"
    )
    assert validate_permissions(app_spec(server="https://other:6443", namespace="x"), open_) == [
        'error getting cluster by server "https://other:6443": rpc error: code = NotFound desc '
        '= cluster "https://other:6443" not found'
    ]
    assert validate_permissions(app_spec(name="prod", namespace="x"), open_) == [
        "there are no clusters with this name: prod"
    ]
    assert validate_permissions({"source": {"repoURL": "r"}}, open_) == [
        "spec.source.repoURL and either spec.source.path or spec.source.chart are required"
    ]


def test_resource_white_and_blacklists() -> None:
    assert group_kind_permitted(project(), "apps", "Deployment", "d", True)
    assert not group_kind_permitted(project(), "", "Namespace", "auth", False)  # no whitelist
    everything = project(clusterResourceWhitelist=[{"group": "*", "kind": "*"}])
    assert group_kind_permitted(everything, "", "Namespace", "auth", False)
    black = project(namespaceResourceBlacklist=[{"group": "", "kind": "Secret"}])
    assert not group_kind_permitted(black, "", "Secret", "s", True)
    white = project(namespaceResourceWhitelist=[{"group": "apps", "kind": "*"}])
    assert not group_kind_permitted(white, "", "ConfigMap", "c", True)
    assert group_kind_permitted(
        project(namespaceResourceWhitelist=None), "", "ConfigMap", "c", True
    )
    assert not group_kind_permitted(
        project(namespaceResourceWhitelist=[]), "", "ConfigMap", "c", True
    )
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "auth"}}
    assert (
        resource_refusal(black, secret, True)
        == "resource :Secret is not permitted in project team-a"
    )
    fenced = project(destinations=[{"server": "*", "namespace": "team-*"}])
    assert (
        resource_refusal(fenced, secret, True)
        == "namespace auth is not permitted in project 'team-a'"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("1m30s", 90.0), ("3m", 180.0), ("12", 12.0), ("1.5h", 5400.0), ("0", 0.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert backoff.go_duration(text) == seconds


def test_bad_duration_is_an_error_like_parse_string_to_duration() -> None:
    with pytest.raises(backoff.DurationError, match="unable to parse 5x as a duration"):
        backoff.go_duration("5x")
    state = {"operation": {"retry": {"limit": 2, "backoff": {"duration": "5x"}}}, "message": "m"}
    failed = backoff.failed_attempt({**state, "phase": "Failed"}, 0.0, "T")
    assert failed["phase"] == "Error"
    assert failed["message"] == "m (failed to retry: unable to parse 5x as a duration)"


def test_retry_waits_are_next_retry_at_with_the_real_defaults() -> None:
    waits = [backoff.retry_wait({}, n) for n in range(8)]
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 180.0, 180.0]
    custom = {"backoff": {"duration": "2", "factor": 3, "maxDuration": "0"}}
    assert [backoff.retry_wait(custom, n) for n in range(4)] == [2.0, 6.0, 18.0, 54.0]
    assert backoff.retry_wait({"backoff": {"factor": 0}}, 1) == 0.0  # Factor is a pointer


def test_failed_attempt_retries_then_reports_the_retries() -> None:
    state = {"operation": {"retry": {"limit": 2}}, "phase": "Failed", "message": "boom"}
    first = backoff.failed_attempt(state, 0.0, "1970-01-01T00:00:00Z")
    # the message's time uses retryCount 0 (5 s); the retry itself waits for retryCount 1 (10 s)
    assert first["phase"] == "Running"
    assert first["retryCount"] == 1
    assert first["message"] == "boom. Retrying attempt #1 at 12:00AM."
    assert backoff.seconds_until_retry(first, 0.0, 0.0) == 10.0
    assert backoff.seconds_until_retry(first, 0.0, 4.0) == 6.0
    resumed = backoff.retrying_state(first)
    assert resumed["message"] == "Retrying operation. Attempt #1"
    assert "finishedAt" not in resumed
    last = backoff.failed_attempt(
        {**resumed, "phase": "Failed", "message": "boom", "retryCount": 2}, 0.0, "T"
    )
    assert last["phase"] == "Failed"
    assert last["message"] == "boom (retried 2 times)."
    assert backoff.may_retry({"operation": {"retry": {"limit": -1}}, "retryCount": 99})
    assert not backoff.may_retry({"operation": {}, "retryCount": 0})


def test_retry_refresh_drops_the_pinned_revision() -> None:
    state = {
        "operation": {"retry": {"limit": 1, "refresh": True}, "sync": {"revision": "abc"}},
        "retryCount": 1,
        "finishedAt": "T",
        "syncResult": {"revision": "abc"},
    }
    resumed = backoff.retrying_state(state)
    assert resumed["message"] == "Retrying operation with latest revisions. Attempt #1"
    assert resumed["operation"]["sync"]["revision"] == ""
    assert "syncResult" not in resumed


def test_self_heal_backoff_steps_like_wait_backoff() -> None:
    real = backoff.SelfHeal()
    delays = [backoff.self_heal_delay(n, real) for n in range(9)]
    assert delays == [0.0, 2.0, 6.0, 18.0, 54.0, 162.0, 300.0, 300.0, 300.0]
    assert backoff.self_heal_remaining(2, 100.0, 104.0, real) == 2.0
    assert backoff.self_heal_remaining(2, None, 104.0, real) == 6.0
    legacy = backoff.SelfHeal(timeout_seconds=5, backoff_seconds=0)
    assert [backoff.self_heal_delay(n, legacy) for n in range(3)] == [5, 5, 5]


DEPLOYMENT: Obj = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "auth"},
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]
            }
        },
    },
}


def test_ignore_differences_pointers_jq_and_matching() -> None:
    rules = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    assert "replicas" not in normalized(DEPLOYMENT, rules)["spec"]
    assert (
        normalized(DEPLOYMENT, [{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}])
        == DEPLOYMENT
    )
    assert normalized(DEPLOYMENT, [{**rules[0], "name": "other"}]) == DEPLOYMENT
    assert normalized(DEPLOYMENT, [{**rules[0], "group": "*"}])["spec"].get("replicas") is None
    jq = '.spec.template.spec.containers[] | select(.name == "app") | .image'
    assert jq_paths(DEPLOYMENT, jq) == [("spec", "template", "spec", "containers", 0, "image")]
    cleaned = normalized(
        DEPLOYMENT, [{"group": "apps", "kind": "Deployment", "jqPathExpressions": [jq]}]
    )
    assert cleaned["spec"]["template"]["spec"]["containers"] == [
        {"name": "app"},
        {"name": "side", "image": "s:1"},
    ]


def test_managed_fields_managers_and_respect() -> None:
    fields: Obj = {
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:spec": {"f:containers": {'k:{"name":"side"}': {".": {}, "f:image": {}}}}
            },
        }
    }
    assert managed_paths(fields, DEPLOYMENT) == [
        ("spec", "replicas"),
        ("spec", "template", "spec", "containers", 1, "image"),
    ]
    live = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 5}, "status": {"replicas": 5}}
    rules = [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas", "/status"]}]
    kept = respected(DEPLOYMENT, live, rules)
    assert kept["spec"]["replicas"] == 5
    assert "status" not in kept
    assert respected(DEPLOYMENT, None, rules) == DEPLOYMENT


def test_app_health_skips_missing_resources_while_others_are_live() -> None:
    healthy = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}}
    assert app_health([healthy, None]) == "Healthy"
    assert app_health([None, None]) == "Missing"
    assert app_health([]) == "Healthy"
    pending = {"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}}
    assert app_health([healthy, pending]) == "Progressing"
    ignored = {
        **pending,
        "metadata": {"annotations": {"argocd.argoproj.io/ignore-healthcheck": "true"}},
    }
    assert app_health([healthy, ignored]) == "Healthy"
