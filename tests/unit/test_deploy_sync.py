"""The sync loop (pipeline/core/sync.py) against an in-memory Applications port: when it writes
``.operation``, what it waits for, and how each ending maps to an error."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.core.events import Event, Note
from pipeline.core.plan import plan_service, sync_operation
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget
from pipeline.core.sync import follow_sync, request_sync
from pipeline.errors import (
    DeployTimeoutError,
    KubeAccessError,
    SupersededError,
    SyncFailedError,
)
from tests.unit.fake_argocd import FakeApplications, FakeClock

DIGEST = "sha256:" + "d" * 64
TARGET = ServiceTarget(name="auth", image="127.0.0.1:5000/eco2", tag="{service}-api-dev-canary")
PLAN = plan_service(
    TARGET, DeploySettings(services=(TARGET,), run=RunSettings(run_id="r1", started_ns=50))
)
OURS = sync_operation(PLAN, DIGEST, "auth-api-canary")


def application(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "dev-api-auth", "namespace": "argocd", "resourceVersion": "10"},
        "spec": {"source": {"repoURL": "file:///repo", "path": "overlays/dev"}},
        "status": status,
    }


def request(apps: FakeApplications, clock: FakeClock | None = None, **kw: Any) -> list[Event]:
    events: list[Event] = []
    request_sync(
        apps, PLAN, DIGEST, "auth-api-canary", terminate_running=kw.get("terminate", False),
        deadline=1060.0, clock=clock or FakeClock(), emit=events.append,
    )  # fmt: skip
    return events


def test_idle_application_gets_our_operation_and_a_cleared_state_in_one_write() -> None:
    apps = FakeApplications(application(operationState={"phase": "Succeeded"}))
    events = request(apps)
    assert apps.patches == [
        {
            "metadata": {"resourceVersion": "10"},
            "operation": OURS,
            "status": {"operationState": None},
        }
    ]
    assert apps.app is not None and apps.app["operation"] == OURS
    assert "operationState" not in apps.app["status"]
    assert events == []


def test_an_operation_in_progress_is_waited_for_before_writing() -> None:
    running = {"phase": "Running", "operation": {"sync": {}}, "startedAt": "x"}
    apps = FakeApplications(application(operationState=running))
    apps.on_watch = [
        lambda a: a.controller_writes({"status": {"operationState": {"phase": "Succeeded"}}})
    ]
    events = request(apps)
    assert [p["operation"] for p in apps.patches] == [OURS]
    assert apps.patches[0]["metadata"]["resourceVersion"] == "11"  # read after the wait
    assert events == [Note("auth", "waiting for the operation in progress on dev-api-auth")]


def test_running_with_finished_at_is_still_in_progress() -> None:
    retrying = {"phase": "Running", "finishedAt": "t", "retryCount": 1}
    apps = FakeApplications(application(operationState=retrying))
    apps.on_watch = [
        lambda a: a.controller_writes({"metadata": {"labels": {"unrelated": "write"}}}),
        lambda a: a.controller_writes({"status": {"operationState": {"phase": "Failed"}}}),
    ]
    request(apps)
    assert apps.watches == 2 and len(apps.patches) == 1


def test_terminate_running_asks_argo_cd_to_terminate_first() -> None:
    apps = FakeApplications(application(operationState={"phase": "Running"}))
    apps.on_watch = [
        lambda a: a.controller_writes({"status": {"operationState": {"phase": "Failed"}}})
    ]
    events = request(apps, terminate=True)
    assert apps.patches[0] == {
        "metadata": {"resourceVersion": "10"},
        "status": {"operationState": {"phase": "Terminating"}},
    }
    assert apps.patches[1]["operation"] == OURS
    assert events == [Note("auth", "terminating the running operation on dev-api-auth")]


def test_a_conflicting_write_is_retried_with_the_fresh_resource_version() -> None:
    apps = FakeApplications(application())
    apps.conflicts = 1
    request(apps)
    assert [p["metadata"]["resourceVersion"] for p in apps.patches] == ["11"]


def test_a_newer_run_on_the_application_means_superseded() -> None:
    app = application()
    app["metadata"]["annotations"] = {"pipeline.dev/canary-run": "00000000000000000099-r2"}
    apps = FakeApplications(app)
    with pytest.raises(SupersededError, match="00000000000000000099-r2"):
        request(apps)
    assert apps.patches == []


def test_waiting_past_the_deadline_is_a_timeout() -> None:
    clock = FakeClock()
    apps = FakeApplications(application(operationState={"phase": "Running"}))

    def time_passes(a: FakeApplications) -> None:
        clock.now += 61

    apps.on_watch = [time_passes]
    with pytest.raises(DeployTimeoutError, match="the running operation"):
        request(apps, clock)


def follow(apps: FakeApplications, clock: FakeClock | None = None) -> dict[str, Any]:
    return follow_sync(apps, PLAN, DIGEST, deadline=1060.0, clock=clock or FakeClock())


def ours_ended(phase: str, **extra: Any) -> dict[str, Any]:
    return {"operationState": {"operation": OURS, "phase": phase, **extra}}


def test_follow_returns_when_our_operation_succeeds() -> None:
    apps = FakeApplications(application())
    apps.app["operation"] = OURS  # type: ignore[index]
    apps.on_watch = [
        lambda a: a.controller_writes({"status": ours_ended("Running")}),
        lambda a: a.controller_writes({"operation": None, "status": ours_ended("Succeeded")}),
    ]
    app = follow(apps)
    assert app["status"]["operationState"]["phase"] == "Succeeded"


def test_a_retrying_operation_is_followed_to_its_end() -> None:
    apps = FakeApplications(application(**ours_ended("Running", finishedAt="t", retryCount=1)))
    apps.on_watch = [lambda a: a.controller_writes({"status": ours_ended("Succeeded")})]
    assert follow(apps)["status"]["operationState"]["phase"] == "Succeeded"
    assert apps.watches == 1


def test_a_failed_sync_names_the_failing_resources() -> None:
    result = {
        "resources": [
            {"kind": "Deployment", "name": "auth-api-canary", "status": "SyncFailed",
             "message": "spec.replicas: Invalid value: -1"},
            {"kind": "Service", "name": "auth", "status": "Synced", "message": "unchanged"},
        ]
    }  # fmt: skip
    apps = FakeApplications(
        application(**ours_ended("Failed", message="one or more objects failed", syncResult=result))
    )
    with pytest.raises(SyncFailedError) as caught:
        follow(apps)
    assert caught.value.reason == "sync-failed"
    assert "Deployment/auth-api-canary: spec.replicas: Invalid value: -1" in caught.value.message
    assert "Service/auth" not in caught.value.message


def test_an_error_phase_is_a_failed_sync() -> None:
    apps = FakeApplications(
        application(**ours_ended("Error", message="ComparisonError: path does not exist"))
    )
    with pytest.raises(SyncFailedError, match="ended Error: ComparisonError"):
        follow(apps)


def test_our_operation_replaced_before_it_started_is_sync_lost() -> None:
    other = {"initiatedBy": {"username": "admin"}, "sync": {}}
    apps = FakeApplications(application(operationState={"operation": other, "phase": "Running"}))
    with pytest.raises(SyncFailedError) as caught:
        follow(apps)
    assert caught.value.reason == "sync-lost"


def test_a_410_on_the_watch_re_reads_the_application() -> None:
    apps = FakeApplications(application())
    apps.app["operation"] = OURS  # type: ignore[index]
    apps.expire_next_watch = True
    apps.on_watch = [
        lambda a: a.controller_writes({"operation": None, "status": ours_ended("Succeeded")})
    ]
    assert follow(apps)["status"]["operationState"]["phase"] == "Succeeded"
    assert apps.watches == 2


def test_conflicts_without_end_stop_after_the_limit() -> None:
    apps = FakeApplications(application())
    apps.conflicts = 1000  # something rewrites the Application all the time
    with pytest.raises(KubeAccessError) as caught:
        request(apps)
    assert caught.value.reason == "write-conflict"
    assert caught.value.message == (
        "Application dev-api-auth changed 10 times while we wrote the sync operation"
    )
    assert apps.patch_attempts == 10


def test_a_conflict_on_the_terminate_write_is_retried() -> None:
    apps = FakeApplications(application(operationState={"phase": "Running"}))
    apps.conflicts = 1
    apps.on_watch = [
        lambda a: a.controller_writes({"status": {"operationState": {"phase": "Failed"}}})
    ]
    request(apps, terminate=True)
    assert [p["metadata"]["resourceVersion"] for p in apps.patches] == ["11", "13"]
    assert apps.patches[1]["operation"] == OURS
