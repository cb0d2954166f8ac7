"""From listed Applications to poll targets: annotations parsed, current pins read.

An Application whose annotations are wrong is reported for that Application (every problem at
once, pipeline/core/imageupdater/annotations.py) and the cycle goes on with the others. Reading what
is pinned needs no cluster read unless two patches pin one repository (a stable and a canary
alias of the same image); only then are the destination namespace's Deployments listed, once
per namespace, to tell which patch is whose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.imageupdater.annotations import ImageUpdaterConfig, parse_application
from pipeline.errors import AmbiguousPin, PipelineError, PreflightError, Problem, UsageError
from pipeline.inspect.pins import current_pin, patched_deployments
from pipeline.inspect.workloads import Workload, resolve_workloads
from pipeline.poll.plan import AliasTarget

Obj = dict[str, Any]
DeploymentsOf = Callable[[str], list[Obj]]


@dataclass
class AppEntry:
    app: Obj
    id: str  # "<namespace>/<name>"
    config: ImageUpdaterConfig | None = None
    error: PipelineError | None = None
    targets: list[AliasTarget] = field(default_factory=list)
    alias_errors: dict[str, PipelineError] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.app.get("spec", {}).get("destination", {}).get("namespace") or "")


def app_id(app: Obj) -> str:
    meta = app.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def workloads_for(entry: AppEntry, deployments: list[Obj]) -> dict[str, Workload | Problem]:
    """Every alias's workload; the service for the canary convention is the namespace."""
    assert entry.config is not None
    patched = {c.alias: patched_deployments(entry.app, c) for c in entry.config.images}
    return resolve_workloads(
        entry.app, entry.config.images, deployments, service=entry.namespace, patched=patched
    )


def read_application(app: Obj, deployments_of: DeploymentsOf) -> AppEntry | None:
    """None when the Application carries no ``image-list`` (not ours to poll)."""
    entry = AppEntry(app, app_id(app))
    try:
        config = parse_application(app)
    except UsageError as e:
        entry.error = e
        return entry
    if config is None:
        return None
    entry.config = config
    workloads: dict[str, Workload | Problem] | None = None
    for image in config.images:
        try:
            pin = current_pin(app, image)
        except AmbiguousPin:
            if workloads is None:
                workloads = workloads_for(entry, deployments_of(entry.namespace))
            workload = workloads.get(image.alias)
            if isinstance(workload, Problem) or workload is None:
                problem = workload or Problem(
                    "workload-not-found", f"no workload for {image.alias}"
                )
                entry.alias_errors[image.alias] = PreflightError([problem])
                continue
            pin = current_pin(app, image, workload.deployment)
        entry.targets.append(AliasTarget(entry.id, image, pin))
    return entry


def read_applications(apps: list[Obj], deployments_of: DeploymentsOf) -> list[AppEntry]:
    entries = [read_application(app, deployments_of) for app in apps]
    return [e for e in entries if e is not None]


def cached(deployments_of: DeploymentsOf) -> DeploymentsOf:
    """Memoise per namespace for one cycle."""
    seen: dict[str, list[Obj]] = {}

    def lookup(namespace: str) -> list[Obj]:
        if namespace not in seen:
            seen[namespace] = deployments_of(namespace)
        return seen[namespace]

    return lookup
