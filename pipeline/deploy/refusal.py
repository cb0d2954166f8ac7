"""What a fix plan needs about a service the preflight refused, read once the run failed,
and the one fix plan for a run (pipeline/deploy/fixplan.py).

A service whose selector finds no canary gets the pipeline.yaml settings that would (the one
canary-looking Deployment in its namespace, else in its Application's destination namespace),
and the preflight is run again with them, so the fix plan covers what it finds next too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline.core.pin import get_path, source_path
from pipeline.core.plan import PLACEHOLDER_DIGEST, ServicePlan
from pipeline.core.ports import Dependencies, Obj
from pipeline.core.rollout import canary_deployments
from pipeline.deploy.fixplan import FixPlan, Refused, plan_fixes
from pipeline.deploy.preflight import look_alikes, owning_applicationset, run_preflight
from pipeline.errors import PipelineError, PreflightError, Problem


def read_refusal(plan: ServicePlan, deps: Dependencies, error: PreflightError) -> Refused | None:
    """What a fix plan needs about a refused service: the live Application, canary Deployment
    and owning ApplicationSet (read again; None when they cannot be read)."""
    try:
        app = deps.applications.get_application(plan.argocd_namespace, plan.app)
        deployments, _ = deps.cluster.list_objects("deployments", plan.namespace)
        canaries = canary_deployments(deployments, plan.selector)
        owner = owning_applicationset(app)
        appset = (
            deps.applications.get_applicationset(plan.argocd_namespace, owner) if owner else None
        )
        problems = tuple(error.problems)
        config: dict[str, str] = {}
        if not canaries:  # a look-alike in the namespace, else in the Application's own one
            plan, config, canaries, problems = _settings_fix(plan, deps, app, deployments)
    except PipelineError:
        return None
    if len(canaries) != 1:
        return None
    return Refused(plan, app, canaries[0], problems, appset, config)


def _settings_fix(
    plan: ServicePlan, deps: Dependencies, app: Obj, deployments: list[Obj]
) -> tuple[ServicePlan, dict[str, str], list[Obj], tuple[Problem, ...]]:
    """The selector (and namespace) pipeline.yaml should give a service whose canary the
    selector misses, when exactly one canary-looking Deployment stands out; the preflight is
    run again with them, and what it still finds is for the rest of the fix plan."""
    config: dict[str, str] = {}
    namespace = str((app.get("spec", {}).get("destination") or {}).get("namespace") or "")
    candidates = [c for c in look_alikes(deployments, plan) if c[2]]
    ours_here = any(plan.service in name for name, _, _ in candidates)
    if not ours_here and namespace not in ("", plan.namespace):
        deployments, _ = deps.cluster.list_objects("deployments", namespace)
        plan = replace(plan, namespace=namespace)
        config["namespace"] = namespace
        candidates = [c for c in look_alikes(deployments, plan) if c[2]]
    named = [c for c in candidates if plan.service in c[0]]  # e.g. users-api-canary is not ours
    candidates = named or candidates
    if len(candidates) != 1:
        return plan, {}, [], ()
    name, selector, _ = candidates[0]
    plan = replace(plan, selector=selector)
    config["selector"] = selector
    canaries = [d for d in deployments if d["metadata"].get("name") == name]
    try:
        run_preflight(deps.applications, deps.cluster, plan, PLACEHOLDER_DIGEST,
                      render=deps.render, pushes=False)  # fmt: skip
    except PreflightError as again:
        return plan, config, canaries, tuple(again.problems)
    return plan, config, canaries, ()


def fix_plan(
    refusals: list[Refused], deps: Dependencies, config_path: Path | None = None
) -> FixPlan | None:
    """One verified fix plan for the refused services of one repository (the first one that
    has fixable problems); None without a Sources port or anything to fix."""
    if deps.sources is None or not refusals:
        return None
    by_repo: dict[str, list[Refused]] = {}
    for refusal in refusals:
        source = get_path(refusal.app, source_path(refusal.app)) or {}
        by_repo.setdefault(str(source.get("repoURL", "")), []).append(refusal)
    try:
        return plan_fixes(next(iter(by_repo.values())), deps.sources, config_path)
    except PipelineError as e:
        return FixPlan(unverified_reason=f"the repository could not be read: {e.message}")
