"""The sandbox's deployment and ReplicaSet controllers (one process, like
kube-controller-manager runs both).

Three informers (``list_and_watch`` over HTTP) turn Deployment, ReplicaSet and Pod events into
keys on one work queue, as ``pkg/controller/deployment/deployment_controller.go`` and
``replicaset/replica_set.go`` do: a ReplicaSet event queues the ReplicaSet and its owning
Deployment, a Pod event queues its owning ReplicaSet. A single worker reconciles keys with
fresh reads (``DeploymentSyncer``, ``ReplicaSetSyncer``); failed syncs are retried after a
short delay, and progress deadlines and minReadySeconds are re-checked with delayed keys.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from pipeline.sandbox.controllers.deploymentsync import DeploymentSyncer
from pipeline.sandbox.controllers.eventrecorder import EventRecorder
from pipeline.sandbox.controllers.replicaset import ReplicaSetSyncer
from pipeline.sandbox.controllers.workqueue import WorkQueue, run_controller
from pipeline.sandbox.kubeclient import ApiError, KubeClient, resource_path

Obj = dict[str, Any]

log = logging.getLogger(__name__)

_RETRY_DELAY = 0.5
_DEPLOY = "deployment"
_RS = "replicaset"


def _owner(obj: Obj, kind: str) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences", []) or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return str(ref["name"])
    return None


class DeploymentController:
    def __init__(self, client: KubeClient, *, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._queue = WorkQueue()
        recorder = EventRecorder(client, "deployment-controller", clock=clock)
        self._deployments = DeploymentSyncer(client, recorder, clock)
        rs_recorder = EventRecorder(client, "replicaset-controller", clock=clock)
        self._replica_sets = ReplicaSetSyncer(client, rs_recorder, clock)

    def run(self, stop: threading.Event) -> None:
        """Watch and reconcile until ``stop`` is set."""
        informers = [
            (resource_path("apps/v1", "deployments"), self._on_deployment),
            (resource_path("apps/v1", "replicasets"), self._on_replica_set),
            (resource_path("v1", "pods"), self._on_pod),
        ]
        run_controller("deployment-controller", self._client, informers, self._work,
                       self._queue, stop)  # fmt: skip

    # -- event handlers (informer threads) ----------------------------------------------------
    def _on_deployment(self, _event: str, obj: Obj) -> None:
        meta = obj["metadata"]
        self._queue.add(f"{_DEPLOY}/{meta['namespace']}/{meta['name']}")

    def _on_replica_set(self, event: str, obj: Obj) -> None:
        meta = obj["metadata"]
        if event != "DELETED":
            self._queue.add(f"{_RS}/{meta['namespace']}/{meta['name']}")
        owner = _owner(obj, "Deployment")
        if owner:
            self._queue.add(f"{_DEPLOY}/{meta['namespace']}/{owner}")

    def _on_pod(self, _event: str, obj: Obj) -> None:
        owner = _owner(obj, "ReplicaSet")
        if owner:
            self._queue.add(f"{_RS}/{obj['metadata']['namespace']}/{owner}")

    # -- worker -------------------------------------------------------------------------------
    def _work(self) -> None:
        while (key := self._queue.get()) is not None:
            try:
                again = self._sync(key)
            except (ApiError, requests.RequestException, KeyError, ValueError) as e:
                log.warning("sync %s failed: %s", key, e)
                again = _RETRY_DELAY
            if again is not None:
                self._queue.add_after(key, again)

    def _sync(self, key: str) -> float | None:
        kind, namespace, name = key.split("/", 2)
        if kind == _DEPLOY:
            return self._deployments.sync(namespace, name)
        rs = self._client.get_or_none(resource_path("apps/v1", "replicasets", namespace, name))
        if rs is None:
            return None
        return self._replica_sets.sync(rs)
