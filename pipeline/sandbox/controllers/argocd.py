"""The sandbox Argo CD application-controller.

Talks to the API server only over HTTP (informers from ``kubeclient.list_and_watch``). For each
Application in its namespace (reference/argocd-kubernetes.md A.3-A.6):
1. Operation: re-GET the app; continue an in-progress ``status.operationState`` (Running or
   Terminating) or, when none is in progress, pick up ``.operation`` (JSON patch writing a
   Running state with a copy of the operation). An ``.operation`` written meanwhile is never
   read and is lost when the running one completes. Completion writes the final state and
   removes ``.operation`` in one JSON patch; Terminating ends Failed "Operation terminated";
   Failed/Error with retries left becomes Running + finishedAt until the backoff elapses
   (``argocd_backoff``); a multi-step sync (CreateNamespace's PreSync namespace task,
   ``argocd_namespace``) stays Running between passes.
2. Refresh (when requested, when spec differs from ``status.sync.comparedTo``, when a managed
   resource changed, or every ``reconcile_seconds``): render, compare, write status with a merge
   patch on the main resource (no status subresource) that also removes the refresh annotation.
3. Auto-sync when ``syncPolicy.automated`` asks, once per (revision, source); selfHeal re-syncs
   drift with backoff (``argocd_autosync``).
An Application whose ``spec.project`` names no AppProject, or whose repository or destination
its project does not permit (``argocd_project``), is neither compared nor synced: its refresh
writes InvalidSpecError conditions, its operations end in Error.
Rendering, health, comparison and operation rules live in the ``argocd_*`` modules.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.sandbox.controllers import argocd_backoff as backoff
from pipeline.sandbox.controllers import argocd_operation as ops
from pipeline.sandbox.controllers.argocd_autosync import auto_sync
from pipeline.sandbox.controllers.argocd_compare import TRACKING_ID, with_tracking
from pipeline.sandbox.controllers.argocd_health import resource_health
from pipeline.sandbox.controllers.argocd_namespace import NamespaceStep
from pipeline.sandbox.controllers.argocd_project import resource_refusal, validate_permissions
from pipeline.sandbox.controllers.argocd_source import (
    Rendered,
    SourceError,
    SourceRenderer,
    repository_secrets,
)
from pipeline.sandbox.controllers.argocd_status import StatusBuilder, record_transitions
from pipeline.sandbox.controllers.argocd_sync import (
    COMPLETED,
    ERROR,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TERMINATING,
    ResourceMapper,
    Syncer,
    SyncPlan,
)
from pipeline.sandbox.controllers.eventrecorder import NORMAL, WARNING, EventRecorder
from pipeline.sandbox.controllers.workqueue import WorkQueue, run_controller
from pipeline.sandbox.kubeclient import JSON_PATCH, ApiError, KubeClient

Obj = dict[str, Any]
REFRESH = "argocd.argoproj.io/refresh"
APPS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/applications"
PROJECTS = "/apis/argoproj.io/v1alpha1/namespaces/{ns}/appprojects"


def project_name(app: Obj) -> str:
    """``spec.project``; empty means ``default`` (ApplicationSpec.GetProject)."""
    return str((app.get("spec") or {}).get("project") or "default")


class ArgoCDController:
    def __init__(
        self,
        client: KubeClient,
        *,
        work_dir: Path,
        namespace: str = "argocd",
        reconcile_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
        self_heal: backoff.SelfHeal | None = None,
        kubectl: str | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._reconcile_seconds = reconcile_seconds
        self._clock = clock
        self._self_heal = self_heal or backoff.SelfHeal()
        self._renderer = SourceRenderer(
            Path(work_dir), kubectl, repository_secrets(client, namespace)
        )
        self._mapper = ResourceMapper(client)
        self._syncer = Syncer(client, self._mapper)
        self._namespaces = NamespaceStep(client, self._syncer)
        self._events = EventRecorder(client, "argocd-application-controller", clock=clock)
        self._status = StatusBuilder(client, self._mapper, clock)
        self._queue = WorkQueue()
        self._lock = threading.Lock()
        self._dirty: set[str] = set()
        self._app_namespaces: dict[str, str] = {}
        self._seen_resources: dict[str, str] = {}

    def _apps_path(self, name: str | None = None) -> str:
        base = APPS.format(ns=self._namespace)
        return f"{base}/{name}" if name else base

    # ---- informers -------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        watchers = [
            (self._apps_path(), self._on_app),
            ("/apis/apps/v1/deployments", self._on_resource),
            ("/apis/apps/v1/replicasets", self._on_resource),
            ("/api/v1/pods", self._on_resource),
        ]
        run_controller("argocd-application-controller", self._client, watchers, self._work,
                       self._queue, stop)  # fmt: skip

    def _on_app(self, event_type: str, app: Obj) -> None:
        name = app["metadata"]["name"]
        if event_type == "DELETED":
            with self._lock:
                self._app_namespaces.pop(name, None)
            return
        destination = (app.get("spec") or {}).get("destination") or {}
        with self._lock:
            self._app_namespaces[name] = destination.get("namespace", "")
        self._queue.add(name)

    def _on_resource(self, event_type: str, obj: Obj) -> None:
        """Enqueue the owning app(s) when a managed object's spec, health or images change
        (Argo CD 3 ignores status-only updates unless health changes, A.6)."""
        meta = obj.get("metadata", {})
        key = f"{obj.get('kind')}/{meta.get('namespace')}/{meta.get('name')}"
        spec = obj.get("spec") or {}
        fingerprint = json.dumps(
            [
                event_type,
                meta.get("generation"),
                resource_health(obj),
                spec.get("replicas"),
                [c.get("image") for c in spec.get("containers") or []],
            ],
            sort_keys=True,
            default=str,
        )
        with self._lock:
            if self._seen_resources.get(key) == fingerprint:
                return
            self._seen_resources[key] = fingerprint
            tracking = meta.get("annotations", {}).get(TRACKING_ID, "")
            if tracking:
                apps = [tracking.split(":", 1)[0]]
            else:
                apps = [a for a, ns in self._app_namespaces.items() if ns == meta.get("namespace")]
            self._dirty.update(apps)
        for app in apps:
            self._queue.add(app)

    def _work(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                self.process(name)
            except (ApiError, OSError):
                self._queue.add_after(name, 1.0)

    # ---- one pass ----------------------------------------------------------------------
    def process(self, name: str) -> None:
        app = self._client.get_or_none(self._apps_path(name))
        if app is None:
            return
        finished = self._process_operation(app)
        if finished:
            app = self._client.get_or_none(self._apps_path(name)) or app
        with self._lock:
            dirty = name in self._dirty
            self._dirty.discard(name)
        if finished or dirty or self._needs_refresh(app):
            project = self._project(app)
            problems = self._spec_errors(app, project)
            if problems or project is None:
                self._status.write_invalid_spec(app, problems, self._apps_path(name))
                self._queue.add_after(name, self._reconcile_seconds)
                return
            comparison = self._refresh(app, project)
            if comparison is not None:
                self._auto_sync(app, comparison)
        self._queue.add_after(name, self._reconcile_seconds)

    def _auto_sync(self, app: Obj, comparison: Obj) -> None:
        name = app["metadata"]["name"]
        auto_sync(self._client, self._apps_path(name), app, comparison, self._clock(),
                  self._self_heal, lambda wait: self._queue.add_after(name, wait))  # fmt: skip

    def _project(self, app: Obj) -> Obj | None:
        path = PROJECTS.format(ns=self._namespace) + "/" + project_name(app)
        return self._client.get_or_none(path)

    @staticmethod
    def _spec_errors(app: Obj, project: Obj | None) -> list[str]:
        """refreshAppConditions: the InvalidSpecError messages (none: the spec is valid)."""
        if project is None:
            return [f"Application referencing project {project_name(app)} which does not exist"]
        return validate_permissions(app.get("spec") or {}, project)

    def _refusal(self, project: Obj) -> Callable[[Obj, bool], str | None]:
        return lambda obj, namespaced: resource_refusal(project, obj, namespaced)

    def _needs_refresh(self, app: Obj) -> bool:
        status = app.get("status") or {}
        if REFRESH in (app["metadata"].get("annotations") or {}):
            return True
        compared = (status.get("sync") or {}).get("comparedTo") or {}
        spec = app.get("spec") or {}
        if compared != {"source": spec.get("source"), "destination": spec.get("destination")}:
            return True
        reconciled = status.get("reconciledAt")
        return (
            not reconciled
            or self._clock() - ops.parse_rfc3339(reconciled) >= self._reconcile_seconds
        )

    def _desired(self, app: Obj, rendered: Rendered) -> list[Obj]:
        destination = (app.get("spec") or {}).get("destination") or {}
        name = app["metadata"]["name"]
        desired = []
        for obj in rendered.objects:
            try:
                _, namespaced = self._mapper.lookup(obj.get("apiVersion", ""), obj.get("kind", ""))
            except LookupError:
                namespaced = True
            namespace = destination.get("namespace") if namespaced else None
            desired.append(
                with_tracking(obj, name, namespace or ("default" if namespaced else None))
            )
        return desired

    # ---- operations --------------------------------------------------------------------
    def _process_operation(self, app: Obj) -> bool:
        """Advance the operation; True when an operation completed in this pass."""
        state = (app.get("status") or {}).get("operationState")
        now = self._clock()
        name = app["metadata"]["name"]
        if not state or state.get("phase") in COMPLETED:
            operation = app.get("operation")
            if not operation:
                return False
            state = ops.new_state(operation, now)
            path = "/status/operationState" if app.get("status") else "/status"
            value = state if app.get("status") else {"operationState": state}
            self._patch(app, [{"op": "add", "path": path, "value": value}], JSON_PATCH)
            self._events.event(app, NORMAL, "OperationStarted", "Initiated sync")
        if state.get("phase") == TERMINATING:
            return self._complete(
                app, {**state, "phase": FAILED, "message": "Operation terminated"}
            )
        if state.get("finishedAt"):  # waiting to retry
            try:
                finished = ops.parse_rfc3339(state["finishedAt"])
                wait = backoff.seconds_until_retry(state, finished, now)
            except backoff.DurationError as e:
                return self._complete(app, {**state, "phase": ERROR, "message": str(e)})
            if wait > 0:
                self._queue.add_after(name, wait)
                return False
            state = backoff.retrying_state(state)
            self._write_state(app, state)
        attempt = self._attempt(app, state)
        if attempt["phase"] in (FAILED, ERROR):
            attempt = backoff.failed_attempt(attempt, self._clock(), ops.rfc3339(self._clock()))
        if attempt["phase"] == RUNNING:
            self._write_state(app, attempt)
            if attempt.get("finishedAt"):
                finished = ops.parse_rfc3339(attempt["finishedAt"])
                self._queue.add_after(name, backoff.seconds_until_retry(attempt, finished, now))
            else:
                self._queue.add_after(name, 0.2)  # the next step of a multi-step sync
            return False
        return self._complete(app, attempt)

    def _write_state(self, app: Obj, state: Obj) -> None:
        self._patch(app, [{"op": "add", "path": "/status/operationState", "value": state}],
                    JSON_PATCH)  # fmt: skip

    def _attempt(self, app: Obj, state: Obj) -> Obj:
        """One pass of SyncAppState for ``state``: Running (more steps), or a finished phase."""
        spec = app.get("spec") or {}
        sync = (state.get("operation") or {}).get("sync") or {}
        source = sync.get("source") or spec.get("source") or {}
        attempt = {k: v for k, v in state.items() if k != "finishedAt"}
        project = self._project(app)
        problems = self._spec_errors(app, project)
        if project is None:  # appcontroller.go processRequestedAppOperation
            name = project_name(app)
            attempt.update(
                phase=ERROR,
                message=f"Failed to load application project: error getting app project "
                f'"{name}": appproject.argoproj.io "{name}" not found',
            )
            return attempt
        if problems:  # sync.go SyncAppState: FormatAppConditions
            message = ";".join(f"InvalidSpecError: {m}" for m in problems)
            attempt.update(phase=ERROR, message=message)
            return attempt
        earlier = state.get("syncResult") or {}
        try:
            rendered = self._renderer.render(
                source, earlier.get("revision") or sync.get("revision") or None
            )
        except SourceError as e:
            attempt.update(
                phase=ERROR, message=f"ComparisonError: Failed to load target state: {e}"
            )
            return attempt
        options = [*(sync.get("syncOptions") or [])]  # the operation's own (controller/sync.go)
        plan = SyncPlan(options, list(spec.get("ignoreDifferences") or []), self._refusal(project))
        try:
            outcome = self._namespaces.sync(
                str((spec.get("destination") or {}).get("namespace") or ""),
                spec.get("syncPolicy") or {},
                self._desired(app, rendered),
                sync,
                plan,
                list(earlier.get("resources") or []),
            )
        except ApiError as e:
            attempt.update(phase=ERROR, message=str(e))
            return attempt
        attempt.update(
            phase=outcome.phase,
            message=outcome.message,
            syncResult={
                "revision": rendered.revision,
                "source": source,
                "resources": outcome.resources,
            },
        )
        return attempt

    def _complete(self, app: Obj, state: Obj) -> bool:
        now = self._clock()
        final = {**state, "finishedAt": ops.rfc3339(now)}
        patch = ops.completion_patch(final) + ops.history_patch(app, final)
        self._patch(app, patch, JSON_PATCH)
        sync = (final.get("operation") or {}).get("sync") or {}
        result = final.get("syncResult") or {}
        revision = result.get("revision") or sync.get("revision") or ""
        if final["phase"] == SUCCEEDED:
            self._events.event(
                app, NORMAL, "OperationCompleted", f"Sync operation to {revision} succeeded"
            )
        else:
            self._events.event(
                app,
                WARNING,
                "OperationCompleted",
                f"Sync operation to {revision} failed: {final.get('message', '')}",
            )
        return True

    def _patch(self, app: Obj, body: Any, content_type: str) -> None:
        self._client.patch(self._apps_path(app["metadata"]["name"]), body, content_type)

    # ---- refresh -----------------------------------------------------------------------
    def _refresh(self, app: Obj, project: Obj) -> dict[str, Any] | None:
        hard = (app["metadata"].get("annotations") or {}).get(REFRESH) == "hard"
        source = (app.get("spec") or {}).get("source") or {}
        try:
            rendered = self._renderer.render(source, hard=hard)
        except SourceError as e:
            self._status.write_error(app, str(e), self._apps_path(app["metadata"]["name"]))
            return None
        refusal = self._refusal(project)

        def permitted(obj: Obj) -> bool:  # state.go: a kind the project refuses is Unknown
            try:
                _, namespaced = self._mapper.lookup(obj.get("apiVersion", ""), obj.get("kind", ""))
            except LookupError:
                return True
            refused = refusal(obj, namespaced)
            return refused is None or not refused.startswith("resource ")

        comparison = self._status.write(
            app,
            rendered,
            self._desired(app, rendered),
            self._apps_path(app["metadata"]["name"]),
            permitted,
        )
        record_transitions(self._events, app, comparison)
        return comparison
