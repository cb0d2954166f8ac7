"""Pure deployment-controller logic: template hash, fenceposts, scale plans, status."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sandbox.controllers import deploymentstatus as ds
from pipeline.sandbox.controllers import podtemplate as pt
from pipeline.sandbox.controllers import rolloutmath as rm
from pipeline.sandbox.controllers.replicaset import deletion_rank, label_selector
from pipeline.sandbox.controllers.workqueue import WorkQueue

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "127.0.0.1:5000/web:v1"}]},
}


def deployment(replicas: int = 4, strategy: Any = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": TEMPLATE,
            **({"strategy": strategy} if strategy else {}),
            **spec,
        },
        "status": {"observedGeneration": 1},
    }


def test_hash_uses_the_vowel_free_alphabet_and_is_stable() -> None:
    h = pt.pod_template_hash(TEMPLATE)
    assert h == pt.pod_template_hash(TEMPLATE)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(h) <= 10


def test_hash_ignores_its_own_label_and_changes_with_the_template() -> None:
    labelled = {**TEMPLATE, "metadata": {"labels": {"app": "web", pt.POD_TEMPLATE_HASH: "x"}}}
    assert pt.pod_template_hash(labelled) == pt.pod_template_hash(TEMPLATE)
    other = {**TEMPLATE, "metadata": {"labels": {"app": "web"}, "annotations": {"a": "1"}}}
    assert pt.pod_template_hash(other) != pt.pod_template_hash(TEMPLATE)
    assert pt.pod_template_hash(TEMPLATE, 1) != pt.pod_template_hash(TEMPLATE)


def test_safe_encode_matches_apimachinery() -> None:
    # rand.SafeEncodeString("1234") maps bytes 49..52 mod 27 onto "bcdfghjklmnpqrstvwxz2456789"
    assert pt.safe_encode("1234") == "5678"


def test_new_replica_set_carries_hash_owner_and_revision() -> None:
    rs = pt.new_replica_set(deployment(), "abc", 1, 3)
    assert rs["metadata"]["name"] == "web-abc"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": "abc"}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "abc"
    assert rs["metadata"]["annotations"][pt.REVISION] == "3"
    assert rs["metadata"]["ownerReferences"][0]["controller"] is True
    assert TEMPLATE["metadata"]["labels"] == {"app": "web"}  # input untouched


def test_new_pod_uses_generate_name_and_rs_owner() -> None:
    rs = pt.new_replica_set(deployment(), "abc", 1, 1)
    rs["metadata"]["uid"] = "rs-uid"
    pod = pt.new_pod(rs)
    assert pod["metadata"]["generateName"] == "web-abc-"
    assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": "abc"}
    assert pt.controller_uid(pod) == "rs-uid"


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 1, (1, 0)),  # surge rounds up, unavailable down
        ("25%", "25%", 10, (3, 2)),
        (0, 0, 3, (0, 1)),  # never both zero
        (2, "50%", 3, (2, 1)),
    ],
)
def test_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    assert rm.resolve_fenceposts(surge, unavailable, desired) == expected


def test_new_rs_scales_up_within_surge() -> None:
    d = deployment(4)
    old = rm.RSView("old", 4, 4)
    new = rm.RSView("new", 0, 0)
    assert rm.new_rs_replicas(d, [old, new], new) == 1  # 4 + surge 1 = 5 total
    assert rm.new_rs_replicas(d, [rm.RSView("old", 3, 3), rm.RSView("n", 1, 1)], new) == 1
    recreate = deployment(4, {"type": "Recreate"})
    assert rm.new_rs_replicas(recreate, [old, new], new) == 4


def test_old_rs_scale_down_keeps_min_available() -> None:
    d = deployment(4)  # maxUnavailable 1 -> min available 3
    plan = rm.old_rs_scale_down(d, [rm.RSView("old", 4, 4)], rm.RSView("new", 1, 0))
    assert plan == {"old": 3}
    plan = rm.old_rs_scale_down(d, [rm.RSView("old", 3, 3)], rm.RSView("new", 2, 2))
    assert plan == {"old": 1}


def test_old_rs_unhealthy_replicas_go_first() -> None:
    d = deployment(1)  # maxUnavailable 0, surge 1
    plan = rm.old_rs_scale_down(d, [rm.RSView("old", 1, 0)], rm.RSView("new", 1, 1))
    assert plan == {"old": 0}
    # a crashing new RS blocks scale-down of a healthy old one
    assert rm.old_rs_scale_down(d, [rm.RSView("old", 1, 1)], rm.RSView("new", 1, 0)) == {}


def rs_obj(name: str, replicas: int, available: int, ready: int | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"replicas": replicas},
        "status": {
            "replicas": replicas,
            "readyReplicas": available if ready is None else ready,
            "availableReplicas": available,
        },
    }


def test_status_counts_and_available_condition() -> None:
    d = deployment(2)
    new, old = rs_obj("web-new", 1, 0), rs_obj("web-old", 2, 2)
    status = ds.calculate_status(d, [old, new], new, 1000.0)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "unavailableReplicas": 1,
    }
    available = ds.get_condition(status, "Available")
    assert available is not None
    assert (available["status"], available["reason"]) == ("True", "MinimumReplicasAvailable")


def test_progressing_then_complete() -> None:
    d = deployment(1)
    new = rs_obj("web-new", 1, 0)
    status = ds.rollout_status(d, [new], new, 1000.0)
    cond = ds.get_condition(status, "Progressing")
    assert cond is not None
    assert (cond["reason"], cond["message"]) == (
        "ReplicaSetUpdated",
        'ReplicaSet "web-new" is progressing.',
    )
    d["status"] = status
    done = rs_obj("web-new", 1, 1)
    status = ds.rollout_status(d, [done], done, 1010.0)
    cond = ds.get_condition(status, "Progressing")
    assert cond is not None
    assert (cond["status"], cond["reason"]) == ("True", "NewReplicaSetAvailable")
    assert cond["lastTransitionTime"] == ds.rfc3339(1000.0)  # status stayed True


def test_progress_deadline_exceeded_without_progress() -> None:
    d = deployment(1, progressDeadlineSeconds=5)
    new = rs_obj("web-new", 1, 0)
    d["status"] = ds.rollout_status(d, [new], new, 1000.0)
    assert ds.seconds_until_stuck(d, d["status"], 1002.0) == pytest.approx(4.0)
    assert ds.get_condition(ds.rollout_status(d, [new], new, 1004.0), "Progressing")["reason"] == (  # type: ignore[index]
        "ReplicaSetUpdated"
    )
    status = ds.rollout_status(d, [new], new, 1006.0)
    cond = ds.get_condition(status, "Progressing")
    assert cond is not None
    assert (cond["status"], cond["reason"], cond["message"]) == (
        "False",
        "ProgressDeadlineExceeded",
        'ReplicaSet "web-new" has timed out progressing.',
    )


def test_progress_moves_last_update_time() -> None:
    d = deployment(2, progressDeadlineSeconds=5)
    new = rs_obj("web-new", 2, 0)
    d["status"] = ds.rollout_status(d, [new], new, 1000.0)
    better = rs_obj("web-new", 2, 1)
    status = ds.rollout_status(d, [better], better, 1004.0)
    cond = ds.get_condition(status, "Progressing")
    assert cond is not None
    assert cond["lastUpdateTime"] == ds.rfc3339(1004.0)
    assert cond["lastTransitionTime"] == ds.rfc3339(1000.0)


def test_disabled_deadline_has_no_progressing_condition() -> None:
    d = deployment(1, progressDeadlineSeconds=2**31 - 1)
    new = rs_obj("web-new", 1, 0)
    assert ds.get_condition(ds.rollout_status(d, [new], new, 1.0), "Progressing") is None


def pod(name: str, *, node: str = "", phase: str = "Running", ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"nodeName": node} if node else {},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_extra_pods_are_deleted_unscheduled_pending_and_unready_first() -> None:
    pods = [
        pod("ready", node="n"),
        pod("unready", node="n", ready=False),
        pod("pending", node="n", phase="Pending", ready=False),
        pod("unscheduled", phase="Pending", ready=False),
    ]
    ranked = [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)]
    assert ranked == ["unscheduled", "pending", "unready", "ready"]


def test_label_selector_query() -> None:
    selector = {
        "matchLabels": {"app": "web", "pod-template-hash": "abc"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert label_selector(selector) == "app=web,pod-template-hash=abc,tier in (a,b),!legacy"


def test_work_queue_deduplicates_and_orders_by_due_time() -> None:
    now = [0.0]
    queue = WorkQueue(clock=lambda: now[0])
    queue.add_after("later", 5)
    queue.add("a")
    queue.add("a")
    queue.add_after("later", 1)  # an earlier due time wins
    assert queue.get() == "a"
    now[0] = 1.0
    assert queue.get() == "later"
    queue.shutdown()
    assert queue.get() is None
