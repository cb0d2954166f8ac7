"""Two runs on one canary: the older image never ends up running after the newer run succeeds.

Design (docs/deploy-canary.md "Concurrent runs"): every run has a sortable key
``<start time ns, zero-padded>-<run id>`` (plan.run_key). The pin write sets the annotation
``pipeline.dev/canary-run: <key>`` in the same merge patch as the pinned image, carrying the
resourceVersion that was read, so "check the key, then write" is atomic: a concurrent write
makes ours fail with 409 and we re-read. A run whose key is older than the one on the
Application never writes and exits SUPERSEDED. Before declaring success, a run re-reads the
Application: if a newer key is there, it exits SUPERSEDED instead of reporting a success that
is about to be replaced; if our pin is gone while our key stayed, an ApplicationSet (or another
controller) reverted it.

The pin also tells whose canary it replaced: the PR that owned the pin it overwrote
(cleanup/plan.py ``pinned_by_pr``: our annotation, or the last sync's ``pipeline-pr`` marker
when that sync deployed the pinned digest), reported as ``replaced_pr`` so the workflow can
tell that PR (docs/json-schema.md).
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.cleanup.plan import pinned_by_pr
from pipeline.core.pin import PinWrite, plan_pin
from pipeline.core.plan import RUN_ANNOTATION, ServicePlan
from pipeline.core.ports import Applications, Conflict, Obj
from pipeline.core.retry import ConflictRetries
from pipeline.deploy.preflight import Preflight
from pipeline.errors import PreflightError, Problem, SupersededError


def newer_run(app: Obj, plan: ServicePlan) -> str | None:
    """The run key on the Application when it belongs to a newer run, else None."""
    key = (app.get("metadata", {}).get("annotations") or {}).get(RUN_ANNOTATION)
    return str(key) if key and key > plan.run_key else None


def replaced_pr(app: Obj, plan: ServicePlan) -> str:
    """The PR whose canary the pin on ``app`` belongs to, when it is another PR's, else ``""``."""
    owner = pinned_by_pr(app)
    return owner if owner and owner != plan.pr else ""


def _superseded(plan: ServicePlan, key: str) -> SupersededError:
    return SupersededError(
        f"a newer run ({key}) took over the canary of {plan.app}; this run ({plan.run_key}) "
        "stops without deploying",
        hint="nothing to do: the newer run deploys and verifies its own image",
    )


def write_pin(
    apps: Applications,
    plan: ServicePlan,
    digest: str,
    pre: Preflight,
    method: str,
    *,
    deadline: float,
    clock: Callable[[], float],
) -> tuple[PinWrite, Obj]:
    """Merge-patch our pin + run key with a resourceVersion precondition; a 409 re-reads and
    decides again, at most MAX_CONFLICTS times and within the deadline (core/retry.py).
    Returns the write and the Application as it was just before it (whose pin it replaced)."""
    app, pin = pre.app, pre.pin
    retries = ConflictRetries(f"Application {plan.app}", "the pin", deadline, clock)
    while True:
        key = newer_run(app, plan)
        if key:
            raise _superseded(plan, key)
        try:
            apps.patch_application(plan.argocd_namespace, plan.app, pin.body)
            return pin, app
        except Conflict:
            retries.conflict()
        app = apps.get_application(plan.argocd_namespace, plan.app)
        decided = plan_pin(app, plan, digest, pre.deployment, method)
        if isinstance(decided, Problem):
            raise PreflightError([decided]) from None
        pin = decided


def check_final(apps: Applications, plan: ServicePlan, pin: PinWrite) -> None:
    """Raise when a newer run took over, or when our pin was reverted."""
    app = apps.get_application(plan.argocd_namespace, plan.app)
    key = newer_run(app, plan)
    if key:
        raise _superseded(plan, key)
    if not pin.present_in(app):
        error = PreflightError(
            [
                Problem(
                    "appset-reverted",
                    f"our pin is gone from {pin.field} of Application {plan.app}: an "
                    "ApplicationSet or another controller rewrote the Application",
                    "make the owner ignore the field, e.g. in the ApplicationSet:\n"
                    f"spec:\n  ignoreApplicationDifferences:\n  - name: {plan.app}\n"
                    f"    jsonPointers: [/{pin.field.replace('.', '/')}]",
                )
            ]
        )
        error.reason = "appset-reverted"
        raise error
