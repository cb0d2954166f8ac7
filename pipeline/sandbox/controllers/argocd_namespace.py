"""``CreateNamespace=true``: the destination namespace as gitops-engine's PreSync task.

Sources: argo-cd ``controller/sync_namespace.go`` (syncNamespace: a task only when the namespace
is missing or ``spec.syncPolicy.managedNamespaceMetadata`` is set; managed labels and annotations
plus ``argocd.argoproj.io/sync-options: ServerSideApply=true``) and ``gitops-engine/pkg/sync/
sync_context.go`` (autoCreateNamespace, getNamespaceCreationTask, Sync): the namespace task is
in the PreSync phase, so the operation is multi-step. The first pass applies the namespace
before anything else and leaves the operation Running ("waiting for healthy state of
/Namespace/<ns>"); a later pass finds the namespace live (a Namespace has no health check in
``gitops-engine/pkg/health``, so live is healthy), marks the task Succeeded, then applies the
Sync phase. A namespace gone by then fails the task ("Resource /Namespace/<ns> is missing, it
might have been deleted"); a namespace rendered from git is not auto-created.
"""

from __future__ import annotations

from typing import Any

from pipeline.sandbox.controllers.argocd_sync import (
    FAILED,
    RUNNING,
    Syncer,
    SyncOutcome,
    SyncPlan,
    api_message,
    not_valid,
    selected,
)
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient

Obj = dict[str, Any]

PRESYNC = "PreSync"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def managed_namespace(name: str, policy: Obj) -> Obj:
    """The Namespace object Argo CD applies for the destination."""
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    managed = policy.get("managedNamespaceMetadata")
    if managed is not None:
        meta = namespace["metadata"]
        meta["labels"] = dict(managed.get("labels") or {})
        meta["annotations"] = {
            **(managed.get("annotations") or {}),
            SYNC_OPTIONS: "ServerSideApply=true",
        }
    return namespace


def in_git(objects: list[Obj], name: str) -> bool:
    """``isNamespaceWithName``: git already carries the destination namespace."""
    return any(
        o.get("kind") == "Namespace"
        and o.get("apiVersion") == "v1"
        and (o.get("metadata") or {}).get("name") == name
        for o in objects
    )


def result(name: str, status: str, message: str, hook_phase: str) -> Obj:
    return {
        "group": "",
        "version": "v1",
        "kind": "Namespace",
        "namespace": "",
        "name": name,
        "status": status,
        "message": message,
        "hookPhase": hook_phase,
        "syncPhase": PRESYNC,
    }


def task_of(results: list[Obj], name: str) -> Obj | None:
    """The namespace task's result from an earlier pass of this operation."""
    for entry in results:
        namespace = entry.get("kind") == "Namespace" and entry.get("name") == name
        if namespace and entry.get("syncPhase") == PRESYNC:
            return entry
    return None


def waiting_message(name: str) -> str:
    return f"waiting for healthy state of /Namespace/{name}"


class NamespaceStep:
    def __init__(self, client: KubeClient, syncer: Syncer) -> None:
        self._client = client
        self._syncer = syncer

    def sync(
        self,
        name: str,
        policy: Obj,
        desired: list[Obj],
        operation_sync: Obj,
        plan: SyncPlan,
        previous: list[Obj],
    ) -> SyncOutcome:
        """One pass of the operation: the namespace task first, then (a pass later) the rest.
        ``previous`` holds the results of the earlier passes of this operation."""
        dry_run = bool(operation_sync.get("dryRun"))
        if not name or dry_run or not plan.has("CreateNamespace=true") or in_git(desired, name):
            return self._syncer.sync(desired, operation_sync, plan)
        task = task_of(previous, name)
        if task is None:
            wanted = list(operation_sync.get("resources") or [])
            objects = [o for o in desired if selected(o, wanted)]
            objects.insert(0, managed_namespace(name, policy))
            invalid = self._syncer.invalid_tasks(objects, plan.refusal)
            if invalid:
                return not_valid(invalid)
            task = self.apply(name, policy)
            if task is None:
                return self._syncer.sync(desired, operation_sync, plan)
            if task["status"] == "SyncFailed":
                message = f"the namespace failed to apply, reason: {task['message']}"
                return SyncOutcome(FAILED, message, [task])
            return SyncOutcome(RUNNING, waiting_message(name), [task])
        task = self.assess(task)
        if task["status"] == "SyncFailed":
            message = (
                "one or more synchronization tasks completed unsuccessfully, reason: "
                f"{task['message']}"
            )
            return SyncOutcome(FAILED, message, [task])
        outcome = self._syncer.sync(desired, operation_sync, plan)
        return SyncOutcome(outcome.phase, outcome.message, [task, *outcome.resources])

    def _path(self, name: str) -> str:
        return f"/api/v1/namespaces/{name}"

    def apply(self, name: str, policy: Obj) -> Obj | None:
        """First pass: create (or, with managed metadata, update) the namespace; its result,
        or None when syncNamespace says there is nothing to do."""
        live = self._client.get_or_none(self._path(name))
        managed = policy.get("managedNamespaceMetadata") is not None
        if live is not None and not managed:
            return None
        desired = managed_namespace(name, policy)
        try:
            if live is None:
                self._client.create("/api/v1/namespaces", desired)
                return result(name, "Synced", f"namespace/{name} created", "Running")
            self._client.patch(self._path(name), {"metadata": desired["metadata"]}, MERGE_PATCH)
            return result(name, "Synced", f"namespace/{name} serverside-applied", "Running")
        except ApiError as e:
            if e.status == 409:
                return result(name, "Synced", f"namespace/{name} created", "Running")
            return result(name, "SyncFailed", api_message(e), "Failed")

    def assess(self, task: Obj) -> Obj:
        """Later pass: the running namespace task completes once the namespace is live."""
        if task.get("hookPhase") != "Running":
            return task
        if self._client.get_or_none(self._path(task["name"])) is None:
            return {
                **task,
                "status": "SyncFailed",
                "hookPhase": "Error",
                "message": f"Resource /Namespace/{task['name']} is missing, it might have been "
                "deleted",
            }
        return {**task, "hookPhase": "Succeeded"}
