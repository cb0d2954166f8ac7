"""cleanup-canary for one service (pipeline/cleanup/run.py) over in-memory ports: the outcome is
a CleanupOutcome decided where it happens, the report keeps its strings, and the 409 retry of
the unpin write is bounded by count and by the deadline."""

from __future__ import annotations

import json
from typing import Any

from pipeline.cleanup.plan import PR_ANNOTATION, PREVIOUS_ANNOTATION
from pipeline.cleanup.run import CleanupOutcome, CleanupResult, cleanup_service
from pipeline.core.events import Event
from pipeline.core.plan import plan_service
from pipeline.core.settings import DeploySettings, RunSettings, ServiceTarget
from pipeline.errors import ExitCode
from tests.unit.fake_argocd import FakeApplications, FakeClock, FakeCluster

D = "sha256:" + "d" * 64
TARGET = ServiceTarget(name="auth", image="127.0.0.1:5000/eco2", tag="{service}-api-dev-canary")
PLAN = plan_service(
    TARGET,
    DeploySettings(services=(TARGET,), run=RunSettings(run_id="c1", started_ns=5, timeout=60)),
)
OURS = {
    "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "auth-api-canary"},
    "patch": json.dumps({"spec": {"template": {"spec": {"containers": [
        {"name": "auth-api", "image": f"127.0.0.1:5000/eco2@{D}"}]}}}}),
}  # fmt: skip
CANARY = {
    "metadata": {"name": "auth-api-canary", "generation": 3},
    "spec": {
        "replicas": 1,
        "template": {
            "metadata": {"labels": {"app": "auth-api", "version": "v2"}},
            "spec": {"containers": [{"name": "auth-api", "image": "127.0.0.1:5000/eco2:v1"}]},
        },
    },
    "status": {"observedGeneration": 3, "replicas": 1, "updatedReplicas": 1,
               "availableReplicas": 1},
}  # fmt: skip


def application(source: dict[str, Any], **annotations: str) -> dict[str, Any]:
    meta = {"name": "dev-api-auth", "namespace": "argocd", "annotations": annotations}
    return {"metadata": meta, "spec": {"source": {"repoURL": "file:///g", **source}}}


def argo_cd_syncs(apps: FakeApplications) -> None:
    """What the controller does with the operation cleanup wrote: run it to Succeeded."""
    assert apps.app is not None
    state = {"operation": apps.app["operation"], "phase": "Succeeded"}
    apps.controller_writes({"operation": None, "status": {"operationState": state}})


def clean(apps: FakeApplications, pr: str = "7", clock: FakeClock | None = None) -> CleanupResult:
    events: list[Event] = []
    return cleanup_service(
        PLAN, apps, FakeCluster([CANARY]), pr=pr, emit=events.append, clock=clock or FakeClock()
    )


def reported(result: CleanupResult) -> tuple[str, str, int]:
    out = result.as_dict()
    return out["result"], out["reason"], out["exit_code"]


def test_our_pin_removed_synced_and_confirmed_is_unpinned() -> None:
    apps = FakeApplications(application({"kustomize": {"patches": [OURS]}}, **{PR_ANNOTATION: "7"}))
    apps.on_watch = [argo_cd_syncs]
    result = clean(apps)
    assert result.outcome is CleanupOutcome.UNPINNED
    assert reported(result) == ("cleaned", "unpinned", 0)
    assert result.images == {"auth-api": "127.0.0.1:5000/eco2:v1"}


def test_a_replaced_entry_put_back_is_restored_and_reported_as_before() -> None:
    previous = json.dumps({"field": "spec.source.kustomize.images", "entries": ["eco2=x:old"]})
    ours = f"eco2=127.0.0.1:5000/eco2:auth-api-dev-canary@{D}"
    apps = FakeApplications(
        application({"kustomize": {"images": [ours]}}, **{PREVIOUS_ANNOTATION: previous})
    )
    apps.on_watch = [argo_cd_syncs]
    result = clean(apps)
    assert (result.outcome, result.restored) == (CleanupOutcome.RESTORED, ["eco2=x:old"])
    assert reported(result) == ("cleaned", "unpinned", 0)


def test_nothing_of_ours_is_not_pinned_without_a_write() -> None:
    apps = FakeApplications(application({"kustomize": {"images": ["eco2=x:old"]}}))
    result = clean(apps)
    assert result.outcome is CleanupOutcome.NOT_PINNED
    assert reported(result) == ("nothing-to-clean", "not-pinned", 0)
    assert apps.patches == []


def test_a_missing_application_has_nothing_to_clean() -> None:
    result = clean(FakeApplications(None))
    assert result.outcome is CleanupOutcome.NO_APPLICATION
    assert reported(result) == ("nothing-to-clean", "not-pinned", 0)
    assert result.message == "Application argocd/dev-api-auth does not exist"


def test_another_prs_pin_is_skipped() -> None:
    apps = FakeApplications(application({"kustomize": {"patches": [OURS]}}, **{PR_ANNOTATION: "9"}))
    result = clean(apps, pr="7")
    assert result.outcome is CleanupOutcome.PINNED_BY_OTHER_PR
    assert reported(result) == ("skipped", "pinned-by-other-pr", 0)
    assert apps.patches == []


def test_conflicts_without_end_stop_after_the_limit() -> None:
    apps = FakeApplications(application({"kustomize": {"patches": [OURS]}}))
    apps.conflicts = 1000  # something rewrites the Application all the time
    result = clean(apps)
    assert reported(result) == ("failed", "write-conflict", ExitCode.KUBE_ACCESS)
    assert result.message == "Application dev-api-auth changed 10 times while we wrote the cleanup"
    assert (apps.gets, apps.patch_attempts) == (10, 10)


def test_conflicts_stop_at_the_deadline_first_when_it_comes_first() -> None:
    clock = FakeClock()
    apps = FakeApplications(application({"kustomize": {"patches": [OURS]}}))
    apps.conflicts = 1000
    reads = apps.get_application

    def slow_read(namespace: str, name: str) -> dict[str, Any]:
        clock.now += 25  # each read-decide-write round takes 25 s of the 60 s
        return reads(namespace, name)

    apps.get_application = slow_read  # type: ignore[method-assign]
    result = clean(apps, clock=clock)
    assert reported(result) == ("failed", "timeout", ExitCode.TIMEOUT)
    assert apps.patch_attempts == 3  # refused at 25 s, 50 s and 75 s: past the 60 s, stop
