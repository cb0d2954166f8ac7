"""Deletion: preconditions, finalizers, garbage collection and namespace termination.

- ``DELETE`` removes an object at once unless it has finalizers; then it only gets a
  ``deletionTimestamp`` and is removed by the write that clears the last finalizer
  (``apiserver/pkg/registry/generic/registry/store.go`` updateForGracefulDeletionAndFinalizers).
- Pods are deleted gracefully (``pkg/registry/core/pod/strategy.go`` CheckGracefulDelete and
  ``rest/delete.go`` BeforeDelete): the period is the DeleteOptions' ``gracePeriodSeconds``,
  else ``spec.terminationGracePeriodSeconds``; 0 for a pod not bound to a node or already
  Succeeded/Failed. A period > 0 sets ``deletionTimestamp`` (now + period) and
  ``deletionGracePeriodSeconds``; the kubelet stops the containers and deletes the pod with
  period 0, which removes it. A shorter period on a second DELETE replaces a longer one.
- Garbage collection (``pkg/controller/garbagecollector``), done synchronously: when an owner
  goes, each dependent loses the ``ownerReferences`` entry; a dependent with no live owner left
  is deleted (Background/Foreground) or kept (``propagationPolicy: Orphan``).
- Namespaces: ``DELETE`` sets ``deletionTimestamp`` and ``status.phase: Terminating``, deletes
  every object in it, and the namespace goes when it is empty (the namespace controller's
  ``spec.finalizers: [kubernetes]``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.sandbox.apiserver import status as st
from pipeline.sandbox.apiserver.objectmeta import now_rfc3339
from pipeline.sandbox.apiserver.resources import RESOURCES, ResourceType
from pipeline.sandbox.apiserver.store import Store

Obj = dict[str, Any]
_NAMESPACES = next(rt for rt in RESOURCES if rt.kind == "Namespace")


class Lifecycle:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._policies: dict[str, str] = {}
        # controllers that delete objects when another goes (e.g. token Secrets with their
        # ServiceAccount): each returns the objects to delete for a removed (rt, obj)
        self.cascades: list[Callable[[ResourceType, Obj], list[tuple[ResourceType, Obj]]]] = []
        # in-server finalizer controllers, run when an object with finalizers gets its
        # deletionTimestamp: (rt, obj, delete) (e.g. a CRD deleting its custom resources)
        self.finalizers: list[
            Callable[[ResourceType, Obj, Callable[[ResourceType, Obj], Obj]], None]
        ] = []
        store.on_remove = self._on_removed

    def delete(self, rt: ResourceType, namespace: str, name: str, options: Obj) -> Obj:
        with self.store.lock:
            obj = self.store.get(rt, namespace if rt.namespaced else "", name)
            meta = obj["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise st.conflict(
                    rt,
                    name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object "
                    f"meta: {meta.get('uid')}",
                )
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
                raise st.conflict(
                    rt,
                    name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                    f"{meta['resourceVersion']}",
                )
            policy = options.get("propagationPolicy") or (
                "Orphan" if options.get("orphanDependents") else "Background"
            )
            if policy not in ("Orphan", "Background", "Foreground"):
                raise st.bad_request(f"unsupported propagationPolicy: {policy}")
            return self._delete(rt, obj, policy, options.get("gracePeriodSeconds"))

    def _delete(self, rt: ResourceType, obj: Obj, policy: str, grace: object = None) -> Obj:
        self._policies[obj["metadata"]["uid"]] = policy
        if rt.kind == "Namespace":
            return self._terminate_namespace(obj)
        if rt.kind == "Pod":
            period = _pod_grace_period(obj, grace)
            if period > 0:
                return self._mark_graceful(rt, obj, period)
            if obj["metadata"].get("deletionGracePeriodSeconds"):  # cut short: now, or at
                return self._mark_graceful(rt, obj, 0)  # the last finalizer
        if obj["metadata"].get("finalizers"):
            marked = self.store.mark_deleting(rt, obj)
            for finalize in self.finalizers:
                finalize(rt, marked, self._delete_background)
            meta = marked["metadata"]
            return self.store.find(rt, meta.get("namespace", ""), meta["name"]) or marked
        return self.store.remove(rt, obj)

    def _delete_background(self, rt: ResourceType, obj: Obj) -> Obj:
        return self._delete(rt, obj, "Background")

    def _mark_graceful(self, rt: ResourceType, obj: Obj, period: int) -> Obj:
        meta = obj["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and current is not None and int(current) <= period:
            return obj
        marked = copy.deepcopy(obj)  # committed with period 0 and no finalizers: removed
        marked["metadata"]["deletionTimestamp"] = rfc3339_after(period)
        marked["metadata"]["deletionGracePeriodSeconds"] = period
        return self.store.commit(rt, obj, marked)

    def _terminate_namespace(self, ns: Obj) -> Obj:
        name = ns["metadata"]["name"]
        if not ns["metadata"].get("deletionTimestamp"):
            marked = copy.deepcopy(ns)
            marked.setdefault("status", {})["phase"] = "Terminating"
            marked["metadata"]["deletionTimestamp"] = now_rfc3339()
            marked["metadata"]["deletionGracePeriodSeconds"] = 0
            ns = self.store.commit(_NAMESPACES, ns, marked)
        for rt, obj in self.store.all_objects():
            if rt.namespaced and obj["metadata"].get("namespace") == name:
                current = self.store.find(rt, name, obj["metadata"]["name"])
                if current is not None and not current["metadata"].get("deletionTimestamp"):
                    self._delete(rt, current, "Background")
        return self._finish_namespace(name) or ns

    def _finish_namespace(self, name: str) -> Obj | None:
        ns = self.store.find(_NAMESPACES, "", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        for rt, obj in self.store.all_objects():
            if rt.namespaced and obj["metadata"].get("namespace") == name:
                return None
        done = copy.deepcopy(ns)
        done["spec"]["finalizers"] = []
        return self.store.commit(_NAMESPACES, ns, done)

    def _on_removed(self, rt: ResourceType, obj: Obj) -> None:
        uid = obj["metadata"].get("uid", "")
        policy = self._policies.pop(uid, "Background")
        for dep_rt, dep in self.store.all_objects():
            refs = dep["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == uid for ref in refs):
                continue
            current = self.store.find(
                dep_rt, dep["metadata"].get("namespace", ""), dep["metadata"]["name"]
            )
            if current is None:
                continue
            remaining = [r for r in refs if r.get("uid") != uid]
            if policy == "Orphan" or any(self._alive(r) for r in remaining):
                updated = copy.deepcopy(current)
                updated["metadata"]["ownerReferences"] = remaining
                if not remaining:
                    del updated["metadata"]["ownerReferences"]
                self.store.commit(dep_rt, current, updated)
            elif not current["metadata"].get("deletionTimestamp"):
                self._delete(dep_rt, current, "Background")
        for cascade in self.cascades:
            for dep_rt, dep in cascade(rt, obj):
                meta = dep["metadata"]
                current = self.store.find(dep_rt, meta.get("namespace", ""), meta["name"])
                if current is not None and not current["metadata"].get("deletionTimestamp"):
                    self._delete(dep_rt, current, "Background")
        namespace = obj["metadata"].get("namespace")
        if rt.namespaced and namespace:
            self._finish_namespace(namespace)

    def _alive(self, ref: Obj) -> bool:
        uid = ref.get("uid")
        return any(obj["metadata"].get("uid") == uid for _, obj in self.store.all_objects())


def _pod_grace_period(pod: Obj, requested: object) -> int:
    """``podStrategy.CheckGracefulDelete``."""
    if requested is not None:
        period = int(str(requested))
        period = 1 if period < 0 else period  # BeforeDelete: a negative period counts as 1s
    else:
        period = int(pod.get("spec", {}).get("terminationGracePeriodSeconds") or 0)
    if not pod.get("spec", {}).get("nodeName"):
        return 0
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return max(period, 0)


def rfc3339_after(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
