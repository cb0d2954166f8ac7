"""Request an Argo CD sync the way Argo CD's own writers do, then follow it to the end.

``util/argo/argo.go SetAppOperation`` (used by argocd-server Sync and by auto-sync): only when
no operation is in progress, set ``.operation`` and clear ``status.operationState`` in one
write carrying the resourceVersion just read, looping on 409 (``Applications.start_sync``: that
patch through the Kubernetes API, ``POST .../sync`` through the Argo CD API). An
``.operation`` written while another runs is silently lost (``controller/appcontroller.go``;
reference A.3), so we wait for the running one (or terminate it with ``--terminate-running``:
phase ``Terminating``, the same write argocd-server's ``TerminateOperation`` makes).
Completion is matched by our ``info`` marker in ``operationState.operation``; ``Running`` with
``finishedAt`` means the controller waits to retry, not that it finished. Waits go through
core/watch.py (list, watch, re-list on 410); 409s are retried at most ``MAX_CONFLICTS`` times,
within the deadline.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.core.events import Emit, Note
from pipeline.core.plan import RUN_ANNOTATION, ServicePlan, operation_is_ours, sync_operation
from pipeline.core.ports import Applications, Conflict, Obj
from pipeline.core.retry import ConflictRetries
from pipeline.core.watch import ApplicationSource, wait_for
from pipeline.errors import DeployTimeoutError, SupersededError, SyncFailedError

Clock = Callable[[], float]
COMPLETED = ("Succeeded", "Failed", "Error")


def _state(app: Obj) -> Obj:
    return dict(app.get("status", {}).get("operationState") or {})


def failing_sync(app: Obj) -> str:
    """The message of the Application's sync when its last attempt failed: an operation that
    ended Failed/Error, or one waiting to retry ("... Retrying attempt #N at ...",
    ``controller/appcontroller.go`` processRequestedAppOperation); "" otherwise."""
    state = _state(app)
    message = str(state.get("message") or "")
    if state.get("phase") in ("Failed", "Error") or (
        state.get("phase") == "Running" and "Retrying attempt #" in message
    ):
        return message
    return ""


def in_progress(app: Obj) -> bool:
    """An operation is pending or running (Running, Terminating, or Running+finishedAt)."""
    return app.get("operation") is not None or _state(app).get("phase") in (
        "Running",
        "Terminating",
    )


def wait_for_application(
    apps: Applications,
    plan: ServicePlan,
    done: Callable[[Obj], bool],
    deadline: float,
    clock: Clock,
    waiting_for: str,
) -> Obj:
    """Watch the Application until ``done(app)``; raise DeployTimeoutError at the deadline."""

    def timed_out(app: Obj) -> DeployTimeoutError:
        failing = failing_sync(app)
        return DeployTimeoutError(
            f"timed out waiting for {waiting_for} on Application {plan.app}"
            + (f": its sync keeps failing: {failing}" if failing else ""),
            hint=(
                "fix what the sync fails on in the source, or pass --terminate-running (the "
                "canary's own sync is selective: it applies only the canary Deployment)"
                if failing
                else "raise --timeout, or look at the Application: kubectl get application -n "
                f"{plan.argocd_namespace} {plan.app} -o yaml"
            ),
        )

    source = ApplicationSource(apps, plan.argocd_namespace, plan.app)
    return wait_for(source, done, deadline=deadline, clock=clock, on_timeout=timed_out)


def request_sync(
    apps: Applications,
    plan: ServicePlan,
    digest: str,
    deployment: str | None,
    *,
    terminate_running: bool,
    deadline: float,
    clock: Clock,
    emit: Emit,
) -> Obj:
    """Write our ``.operation``; returns the Application as written."""
    retries = ConflictRetries(f"Application {plan.app}", "the sync operation", deadline, clock)
    while True:
        app = apps.get_application(plan.argocd_namespace, plan.app)
        _check_not_superseded(app, plan)
        if in_progress(app):
            state = _state(app)
            if terminate_running and state.get("phase") == "Running":
                emit(Note(plan.service, f"terminating the running operation on {plan.app}"))
                try:
                    apps.terminate_operation(plan.argocd_namespace, plan.app, _version(app))
                except Conflict:
                    retries.conflict()
                    continue
            else:
                emit(Note(plan.service, f"waiting for the operation in progress on {plan.app}"))
            wait_for_application(
                apps, plan, lambda a: not in_progress(a), deadline, clock, "the running operation"
            )
            continue
        options = ((app.get("spec") or {}).get("syncPolicy") or {}).get("syncOptions")
        operation = sync_operation(plan, digest, deployment, options)
        try:
            return apps.start_sync(plan.argocd_namespace, plan.app, _version(app), operation)
        except Conflict:
            retries.conflict()


def _version(app: Obj) -> str:
    return str(app["metadata"]["resourceVersion"])


def _check_not_superseded(app: Obj, plan: ServicePlan) -> None:
    key = (app.get("metadata", {}).get("annotations") or {}).get(RUN_ANNOTATION)
    if key and key > plan.run_key:
        raise SupersededError(
            f"a newer run ({key}) took over the canary of {plan.app}",
            hint="nothing to do: the newer run deploys its own image",
        )


def follow_sync(
    apps: Applications, plan: ServicePlan, digest: str, *, deadline: float, clock: Clock
) -> Obj:
    """Follow our operation to Succeeded; raise SyncFailedError/SupersededError otherwise."""

    def finished_or_lost(app: Obj) -> bool:
        state = _state(app)
        ours = operation_is_ours(state.get("operation"), plan, digest)
        if ours:
            return state.get("phase") in COMPLETED and not (
                state.get("phase") == "Running" and state.get("finishedAt")
            )
        return not operation_is_ours(app.get("operation"), plan, digest)

    app = wait_for_application(apps, plan, finished_or_lost, deadline, clock, "the sync")
    state = _state(app)
    if not operation_is_ours(state.get("operation"), plan, digest):
        _check_not_superseded(app, plan)
        raise SyncFailedError(
            f"our sync operation on {plan.app} was replaced before Argo CD started it",
            hint="another client wrote .operation at the same time; re-run the deploy",
            reason="sync-lost",
        )
    if state.get("phase") != "Succeeded":
        failed = [
            f"{r.get('kind')}/{r.get('name')}: {r.get('message')}"
            for r in (state.get("syncResult") or {}).get("resources") or []
            if r.get("status") == "SyncFailed"
        ]
        detail = f" ({'; '.join(failed)})" if failed else ""
        raise SyncFailedError(
            f"Argo CD sync of {plan.app} ended {state.get('phase')}: "
            f"{state.get('message', '')}{detail}",
            hint=f"kubectl get application -n {plan.argocd_namespace} {plan.app} "
            "-o jsonpath='{.status.operationState}'",
        )
    return app
