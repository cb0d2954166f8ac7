"""The sandbox ApplicationSet controller (list generator only).

Follows reference/argocd-kubernetes.md D (``applicationset_controller.go``,
``utils/createOrUpdate.go``, ``utils/policy.go``):
- each element of ``generators[].list.elements`` renders ``spec.template``: fasttemplate
  ``{{key}}`` (tags trimmed, unknown tags left as written, nested maps flattened to
  ``a.b``), or with ``goTemplate: true`` the ``{{.key}}`` / ``{{ .a.b }}`` lookup form only;
- generated Applications carry ``ownerReferences`` (controller: true); every reconcile writes
  the generated spec, labels and annotations in full (keeping the preserved annotations
  ``argocd.argoproj.io/refresh``, ``.../hydrate``, ``notified.notifications.argoproj.io`` and
  ``spec.preservedFields``), except fields matched by ``ignoreApplicationDifferences``
  (``jsonPointers``; ``jqPathExpressions`` only in the plain ``.a.b.c`` form), as one JSON
  merge patch; ``.operation`` and ``status`` are never touched;
- an edit to an owned Application requeues its ApplicationSet at once (``Owns``), so a manual
  edit is reverted within seconds; Applications whose element is gone are deleted (policy
  ``sync``); status goes through the ``/status`` subresource.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from pipeline.sandbox.controllers.applicationset_template import (
    apply_ignored,
    generate,
    merge_patch,
)
from pipeline.sandbox.controllers.workqueue import Informer, WorkQueue, run_controller
from pipeline.sandbox.kubeclient import MERGE_PATCH, ApiError, KubeClient

Obj = dict[str, Any]
GROUP = "/apis/argoproj.io/v1alpha1/namespaces/{ns}"
PRESERVED_ANNOTATIONS = (
    "notified.notifications.argoproj.io",
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/hydrate",
)


class ApplicationSetController:
    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str = "argocd",
        requeue_seconds: float = 180.0,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._requeue_seconds = requeue_seconds
        self._queue = WorkQueue()
        self._on_error = on_error

    def _path(self, plural: str, name: str | None = None) -> str:
        base = f"{GROUP.format(ns=self._namespace)}/{plural}"
        return f"{base}/{name}" if name else base

    def run(self, stop: threading.Event) -> None:
        informers: list[Informer] = [
            (self._path("applicationsets"), self._on_appset),
            (self._path("applications"), self._on_app),
        ]
        run_controller("applicationset-controller", self._client, informers, self._work,
                       self._queue, stop)  # fmt: skip

    def _on_appset(self, event_type: str, appset: Obj) -> None:
        if event_type != "DELETED":
            self._queue.add(appset["metadata"]["name"])

    def _on_app(self, event_type: str, app: Obj) -> None:
        for ref in app.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("kind") == "ApplicationSet" and ref.get("controller"):
                self._queue.add(ref["name"])

    def _work(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                self.reconcile(name)
                self._queue.add_after(name, self._requeue_seconds)
            except (ApiError, OSError, ValueError) as e:
                if self._on_error is not None:
                    self._on_error(name, e)
                self._queue.add_after(name, 1.0)

    def reconcile(self, name: str) -> None:
        appset = self._client.get_or_none(self._path("applicationsets", name))
        if appset is None:
            return
        try:
            generated = generate(appset)
        except ValueError as e:
            self._write_status(appset, [], str(e))
            return
        owner = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "name": name,
            "uid": appset["metadata"].get("uid"),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        spec = appset.get("spec") or {}
        names = []
        for app in generated:
            app_name = app["metadata"]["name"]
            names.append(app_name)
            self._create_or_update(app, owner, spec)
        self._delete_orphans(name, set(names))
        self._write_status(appset, names, "")

    def _create_or_update(self, generated: Obj, owner: Obj, appset_spec: Obj) -> None:
        name = generated["metadata"]["name"]
        path = self._path("applications", name)
        live = self._client.get_or_none(path)
        if live is None:
            created = copy.deepcopy(generated)
            created["metadata"]["namespace"] = self._namespace
            created["metadata"]["ownerReferences"] = [owner]
            self._client.create(self._path("applications"), created)
            return
        desired = copy.deepcopy(live)
        meta = desired["metadata"]
        live_annotations = live["metadata"].get("annotations") or {}
        preserved = (appset_spec.get("preservedFields") or {}).get("annotations") or []
        annotations = dict(generated["metadata"].get("annotations") or {})
        for key in (*PRESERVED_ANNOTATIONS, *preserved):
            if key in live_annotations:
                annotations[key] = live_annotations[key]
        labels = dict(generated["metadata"].get("labels") or {})
        live_labels = live["metadata"].get("labels") or {}
        for key in (appset_spec.get("preservedFields") or {}).get("labels") or []:
            if key in live_labels:
                labels[key] = live_labels[key]
        meta["annotations"] = annotations or None
        meta["labels"] = labels or None
        if generated["metadata"].get("finalizers"):
            meta["finalizers"] = generated["metadata"]["finalizers"]
        desired["spec"] = copy.deepcopy(generated["spec"])
        if not any(r.get("uid") == owner["uid"] for r in meta.get("ownerReferences") or []):
            meta["ownerReferences"] = [*(meta.get("ownerReferences") or []), owner]
        desired = apply_ignored(
            desired, live, name, appset_spec.get("ignoreApplicationDifferences") or []
        )
        patch = merge_patch(
            {k: live.get(k) for k in ("metadata", "spec")},
            {k: desired.get(k) for k in ("metadata", "spec")},
        )
        if patch:
            self._client.patch(path, patch, MERGE_PATCH)

    def _delete_orphans(self, appset_name: str, keep: set[str]) -> None:
        for app in self._client.list(self._path("applications")).get("items", []):
            owned = any(
                ref.get("kind") == "ApplicationSet" and ref.get("name") == appset_name
                for ref in app["metadata"].get("ownerReferences") or []
            )
            if owned and app["metadata"]["name"] not in keep:
                self._client.delete(self._path("applications", app["metadata"]["name"]))

    def _write_status(self, appset: Obj, names: list[str], error: str) -> None:
        ok = not error
        conditions = [
            {
                "type": "ErrorOccurred",
                "status": "False" if ok else "True",
                "reason": "ApplicationSetUpToDate"
                if ok
                else "ApplicationGenerationFromParamsError",
                "message": "Successfully generated parameters for all Applications"
                if ok
                else error,
            },
            {
                "type": "ResourcesUpToDate",
                "status": "True" if ok else "False",
                "reason": "ApplicationSetUpToDate"
                if ok
                else "ApplicationGenerationFromParamsError",
                "message": "All applications have been generated successfully" if ok else error,
            },
        ]
        resources = [
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "name": n,
                "namespace": self._namespace,
            }
            for n in sorted(names)
        ]
        status = {"conditions": conditions, "resources": resources}
        if (appset.get("status") or {}) == status:
            return
        path = f"{self._path('applicationsets', appset['metadata']['name'])}/status"
        self._client.patch(path, {"status": status}, MERGE_PATCH)
