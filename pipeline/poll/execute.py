"""Apply a due update exactly as deploy-canary does: preflight, pin, sync, verify.

The alias becomes a deploy-canary service target with ``--no-build`` semantics: the chosen
digest is the "pushed" one, the workload found for the alias (pipeline/inspect/workloads.py)
gives the namespace, selector and container, and pipeline/deploy/orchestrate.py
``deploy_service`` does the rest, so poll and deploy-canary write, sync and verify alike.
The registry reads deploy-canary makes are answered from this cycle's answers, so an update
costs no registry request beyond the cycle's own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pipeline.core.events import Emit, ServiceResult
from pipeline.core.images import ImageRef, same_digest
from pipeline.core.ports import Dependencies, ManifestInfo, RegistryReader
from pipeline.core.settings import BuildSettings, DeploySettings, RunSettings, ServiceTarget
from pipeline.deploy.orchestrate import deploy_service
from pipeline.errors import ExitCode, PreflightError, Problem
from pipeline.poll.decide import AliasDecision
from pipeline.poll.targets import AppEntry, DeploymentsOf, workloads_for


class CycleDigests:
    """The DigestReader deploy-canary needs, answering digests this cycle already read."""

    def __init__(self, known: set[str], client: RegistryReader) -> None:
        self._known = {d.lower() for d in known}
        self._client = client

    def head_digest(self, ref: ImageRef) -> Any:
        if ref.digest and ref.digest.lower() in self._known:
            return ManifestInfo(ref.digest, "", 0)
        return self._client.head_digest(ref)

    def confirm_digest(self, ref: ImageRef, pushed: str) -> Any:
        info = self.head_digest(ref)
        if not same_digest(info.digest, pushed):
            return self._client.confirm_digest(ref, pushed)
        return info


@dataclass(frozen=True)
class UpdateRun:
    """How updates run: deploy-canary's run settings for every alias of the cycle."""

    run_id: str
    timeout: float = 300.0
    settle: float = 1.0
    crashloop_restarts: int = 2


def _failed(service: str, problem: Problem) -> ServiceResult:
    error = PreflightError([problem])
    return ServiceResult(
        service=service,
        reason=error.reason,
        exit_code=int(ExitCode.MISCONFIGURED),
        message=error.message,
        hint=error.hint,
        problems=[problem.as_dict()],
    )


def apply_update(
    entry: AppEntry,
    decision: AliasDecision,
    *,
    deps: Dependencies,
    deployments_of: DeploymentsOf,
    run: UpdateRun,
    emit: Emit,
) -> ServiceResult:
    """Pin, sync and verify one alias's chosen digest; the result as deploy-canary reports it."""
    meta = entry.app["metadata"]
    service = f"{meta['name']}/{decision.alias}"
    workload = workloads_for(entry, deployments_of(entry.namespace)).get(decision.alias)
    if workload is None:
        workload = Problem("workload-not-found", f"no workload found for {service}")
    if isinstance(workload, Problem):
        return _failed(service, workload)
    assert entry.config is not None and decision.digest and decision.tag
    config = entry.config.image(decision.alias)
    target = ServiceTarget(
        name=service,
        image=config.image.full_name,
        tag=decision.tag,
        app=meta["name"],
        namespace=entry.namespace,
        selector=workload.selector,
        container=workload.container,
        alias=decision.alias,
    )
    settings = DeploySettings(
        services=(target,),
        build=BuildSettings(no_build=True, digest=decision.digest),
        run=RunSettings(
            argocd_namespace=meta["namespace"],
            timeout=run.timeout,
            settle=run.settle,
            crashloop_restarts=run.crashloop_restarts,
            run_id=run.run_id,
            started_ns=time.time_ns(),
        ),
    )
    return deploy_service(target, settings, deps, emit)
