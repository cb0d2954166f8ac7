"""One reconcile of a Deployment: its new ReplicaSet, the rollout step, its status.

Follows kube-controller-manager ``pkg/controller/deployment``: ``sync.go``
(``getAllReplicaSetsAndSyncRevision``, ``getNewReplicaSet``, ``cleanupDeployment``),
``rolling.go`` (``rolloutRolling``), ``recreate.go`` (``rolloutRecreate``) and ``progress.go``.
State is read fresh from the API server on every sync; writes go through the API: ReplicaSet
scale and annotations through the main endpoint, Deployment status through ``/status``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers import deploymentstatus as dstatus
from pipeline.sandbox.controllers import podtemplate as pt
from pipeline.sandbox.controllers import rolloutmath as rm
from pipeline.sandbox.controllers.eventrecorder import NORMAL, EventRecorder
from pipeline.sandbox.kubeclient import ApiError, KubeClient, resource_path

Obj = dict[str, Any]

DEFAULT_REVISION_HISTORY = 10


def rs_view(rs: Obj) -> rm.RSView:
    return rm.RSView(
        name=rs["metadata"]["name"],
        replicas=int(rs["spec"].get("replicas", 0) or 0),
        available=int((rs.get("status") or {}).get("availableReplicas", 0) or 0),
        created=rs["metadata"].get("creationTimestamp", ""),
    )


class DeploymentSyncer:
    def __init__(
        self, client: KubeClient, recorder: EventRecorder, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._recorder = recorder
        self._clock = clock

    def sync(self, namespace: str, name: str) -> float | None:
        """Reconcile one Deployment; returns seconds until it must be looked at again."""
        d = self._client.get_or_none(resource_path("apps/v1", "deployments", namespace, name))
        if d is None or d["metadata"].get("deletionTimestamp"):
            return None
        d.setdefault("status", {})
        listing = self._client.list(resource_path("apps/v1", "replicasets", namespace))
        owned = [
            rs for rs in listing.get("items", []) if pt.controller_uid(rs) == d["metadata"]["uid"]
        ]
        template = d["spec"]["template"]
        new_rs = next(
            (
                rs
                for rs in owned
                if pt.templates_equal_ignoring_hash(rs["spec"]["template"], template)
            ),
            None,
        )
        old_rs = [rs for rs in owned if rs is not new_rs]
        if d["spec"].get("paused"):
            return self._write_status(d, owned, new_rs, progress=False)
        recreate = rm.strategy_type(d) == "Recreate"
        if new_rs is None and recreate and any(_has_pods(rs) for rs in old_rs):
            self._scale_all(d, old_rs, 0)
            return self._write_status(d, old_rs, None)
        d, new_rs = self._ensure_new_rs(d, new_rs, old_rs)
        if new_rs is None:  # hash collision: collisionCount bumped, try again
            return 0.0
        all_rs = [*old_rs, new_rs]
        if recreate:
            self._recreate(d, new_rs, old_rs)
        else:
            self._rolling(d, new_rs, old_rs)
        if dstatus.deployment_complete(
            d, dstatus.calculate_status(d, all_rs, new_rs, self._clock())
        ):
            self._cleanup_history(d, old_rs)
        return self._write_status(d, all_rs, new_rs)

    # -- new ReplicaSet -----------------------------------------------------------------------
    def _ensure_new_rs(
        self, d: Obj, new_rs: Obj | None, old_rs: list[Obj]
    ) -> tuple[Obj, Obj | None]:
        ns = d["metadata"]["namespace"]
        revision = max((pt.revision_of(rs) for rs in old_rs), default=0) + 1
        desired = rm.desired_replicas(d)
        annotations = {
            pt.DESIRED_REPLICAS: str(desired),
            pt.MAX_REPLICAS: str(desired + rm.max_surge(d)),
        }
        if new_rs is not None:
            if pt.revision_of(new_rs) < revision:  # rollback to an old template
                annotations[pt.REVISION] = str(revision)
            current = new_rs["metadata"].get("annotations") or {}
            if any(current.get(k) != v for k, v in annotations.items()):
                new_rs = self._client.patch(
                    resource_path("apps/v1", "replicasets", ns, new_rs["metadata"]["name"]),
                    {"metadata": {"annotations": annotations}},
                )
            d = self._set_revision(d, new_rs)
            if dstatus.progress_deadline(d) is not None and not dstatus.get_condition(
                d["status"], dstatus.PROGRESSING
            ):
                msg = f'Found new replica set "{new_rs["metadata"]["name"]}"'
                d = self._set_progressing(d, dstatus.FOUND_NEW_RS_REASON, msg)
            return d, new_rs
        collisions = int(d["status"].get("collisionCount", 0) or 0)
        template_hash = pt.pod_template_hash(d["spec"]["template"], collisions)
        views = [rs_view(rs) for rs in old_rs]
        empty = rm.RSView(name="", replicas=0, available=0)
        recreate = rm.strategy_type(d) == "Recreate"
        replicas = desired if recreate else rm.new_rs_replicas(d, [*views, empty], empty)
        body = pt.new_replica_set(d, template_hash, replicas, revision)
        body["metadata"]["annotations"].update(annotations)
        try:
            created = self._client.create(resource_path("apps/v1", "replicasets", ns), body)
        except ApiError as e:
            if e.status != 409:
                raise
            existing = self._client.get(
                resource_path("apps/v1", "replicasets", ns, body["metadata"]["name"])
            )
            if pt.templates_equal_ignoring_hash(
                existing["spec"]["template"], d["spec"]["template"]
            ):
                return self._set_revision(d, existing), existing
            self._patch_status(d, {"collisionCount": collisions + 1})
            return d, None
        if replicas > 0:
            self._recorder.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled up replica set {created['metadata']['name']} from 0 to {replicas}",
            )
        d = self._set_revision(d, created)
        if dstatus.progress_deadline(d) is not None:
            msg = f'Created new replica set "{created["metadata"]["name"]}"'
            d = self._set_progressing(d, dstatus.NEW_RS_REASON, msg)
        return d, created

    def _set_revision(self, d: Obj, new_rs: Obj) -> Obj:
        revision = str(pt.revision_of(new_rs))
        if (d["metadata"].get("annotations") or {}).get(pt.REVISION) == revision:
            return d
        meta = d["metadata"]
        updated = self._client.patch(
            resource_path("apps/v1", "deployments", meta["namespace"], meta["name"]),
            {"metadata": {"annotations": {pt.REVISION: revision}}},
        )
        updated.setdefault("status", {})
        return updated

    def _set_progressing(self, d: Obj, reason: str, message: str) -> Obj:
        status = dict(d["status"])
        cond = dstatus.new_condition(dstatus.PROGRESSING, "True", reason, message, self._clock())
        dstatus.set_condition(status, cond)
        return self._patch_status(d, {"conditions": status["conditions"]})

    def _patch_status(self, d: Obj, status: Obj) -> Obj:
        meta = d["metadata"]
        path = resource_path("apps/v1", "deployments", meta["namespace"], meta["name"])
        updated = self._client.patch(path + "/status", {"status": status})
        updated.setdefault("status", {})
        return updated

    # -- rollout strategies -------------------------------------------------------------------
    def _rolling(self, d: Obj, new_rs: Obj, old_rs: list[Obj]) -> None:
        desired = rm.desired_replicas(d)
        views = [rs_view(rs) for rs in old_rs]
        new_view = rs_view(new_rs)
        if new_view.replicas > desired:
            self._scale(d, new_rs, desired)
            return
        target = rm.new_rs_replicas(d, [*views, new_view], new_view)
        if target != new_view.replicas:
            self._scale(d, new_rs, target)
            return
        plan = rm.old_rs_scale_down(d, views, new_view)
        for rs in old_rs:
            if rs["metadata"]["name"] in plan:
                self._scale(d, rs, plan[rs["metadata"]["name"]])

    def _recreate(self, d: Obj, new_rs: Obj, old_rs: list[Obj]) -> None:
        if any(int(rs["spec"].get("replicas", 0) or 0) > 0 for rs in old_rs):
            self._scale_all(d, old_rs, 0)
            return
        if any(_has_pods(rs) for rs in old_rs):
            return
        if int(new_rs["spec"].get("replicas", 0) or 0) != rm.desired_replicas(d):
            self._scale(d, new_rs, rm.desired_replicas(d))

    def _scale_all(self, d: Obj, replica_sets: list[Obj], replicas: int) -> None:
        for rs in replica_sets:
            if int(rs["spec"].get("replicas", 0) or 0) != replicas:
                self._scale(d, rs, replicas)

    def _scale(self, d: Obj, rs: Obj, replicas: int) -> None:
        """Set ``spec.replicas`` (and the desired/max annotations) and record the event."""
        before = int(rs["spec"].get("replicas", 0) or 0)
        desired = rm.desired_replicas(d)
        meta = rs["metadata"]
        body = {
            "metadata": {
                "annotations": {
                    pt.DESIRED_REPLICAS: str(desired),
                    pt.MAX_REPLICAS: str(desired + rm.max_surge(d)),
                }
            },
            "spec": {"replicas": replicas},
        }
        updated = self._client.patch(
            resource_path("apps/v1", "replicasets", meta["namespace"], meta["name"]), body
        )
        rs.clear()
        rs.update(updated)
        direction = "up" if replicas > before else "down"
        self._recorder.event(
            d,
            NORMAL,
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {meta['name']} from {before} to {replicas}",
        )

    def _cleanup_history(self, d: Obj, old_rs: list[Obj]) -> None:
        limit = d["spec"].get("revisionHistoryLimit", DEFAULT_REVISION_HISTORY)
        limit = DEFAULT_REVISION_HISTORY if limit is None else int(limit)
        idle = [
            rs
            for rs in old_rs
            if int(rs["spec"].get("replicas", 0) or 0) == 0
            and not _has_pods(rs)
            and not rs["metadata"].get("deletionTimestamp")
        ]
        idle.sort(key=pt.revision_of)
        for rs in idle[: max(len(idle) - limit, 0)]:
            meta = rs["metadata"]
            self._client.delete(
                resource_path("apps/v1", "replicasets", meta["namespace"], meta["name"])
            )

    def _write_status(
        self, d: Obj, all_rs: list[Obj], new_rs: Obj | None, *, progress: bool = True
    ) -> float | None:
        now = self._clock()
        if progress:
            status = dstatus.rollout_status(d, all_rs, new_rs, now)
        else:
            status = dstatus.calculate_status(d, all_rs, new_rs, now)
        if status != d["status"]:
            self._patch_status(d, status)
        return dstatus.seconds_until_stuck(d, status, now) if progress else None


def _has_pods(rs: Obj) -> bool:
    return int((rs.get("status") or {}).get("replicas", 0) or 0) > 0
