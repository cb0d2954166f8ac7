"""build -> resolve -> preflight -> pin -> sync -> verify, for each service, concurrently.

The core never prints and never exits: it emits events and returns one ServiceResult per
service; a failure of one service never hides the others' results (docs/deploy-canary.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pipeline.core.alias import resolve_target
from pipeline.core.build import Builder, BuildRequest, BuiltImage, PushResult, oci_labels
from pipeline.core.events import (
    Emit,
    Note,
    ServiceFinished,
    ServiceResult,
    StepFinished,
    StepStarted,
)
from pipeline.core.pin import plan_pin
from pipeline.core.plan import (
    PLACEHOLDER_DIGEST,
    ServicePlan,
    application_name,
    plan_as_dict,
    plan_service,
    sync_operation,
)
from pipeline.core.ports import Dependencies
from pipeline.core.settings import DeploySettings, ServiceTarget
from pipeline.core.sync import follow_sync, request_sync
from pipeline.deploy.access import check_access
from pipeline.deploy.fixplan import WORTH_A_FIX, Refused
from pipeline.deploy.preflight import (
    Preflight,
    refuse_shared_tags,
    run_preflight,
)
from pipeline.deploy.races import check_final, replaced_pr, write_pin
from pipeline.deploy.refusal import read_refusal
from pipeline.deploy.verdicts import diagnose, error_for
from pipeline.deploy.verify import watch_rollout
from pipeline.errors import ExitCode, PipelineError, PreflightError, Problem, UsageError


class _Steps:
    def __init__(self, result: ServiceResult, emit: Emit, clock: Callable[[], float]) -> None:
        self.result, self.emit, self.clock = result, emit, clock

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time one step; the body may append a detail line to the yielded list."""
        detail: list[str] = []
        self.emit(StepStarted(self.result.service, name))
        start = self.clock()
        ok = False
        try:
            yield detail
            ok = True
        finally:
            seconds = self.clock() - start
            self.result.timings[name] = seconds
            self.emit(StepFinished(self.result.service, name, seconds, "; ".join(detail), ok))


def _build(
    target: ServiceTarget, plan: ServicePlan, settings: DeploySettings, deps: Dependencies,
    steps: _Steps,
) -> tuple[Builder, BuiltImage]:  # fmt: skip
    """Build the image; nothing is pushed yet."""
    build = settings.build
    if deps.builder is None:
        raise UsageError("no builder available", hint="pass --no-build --digest sha256:...")
    with steps.step("build") as detail:
        builder = deps.builder()
        steps.emit(Note(plan.service, f"builder: {builder.name} ({builder.why})"))
        request = BuildRequest(
            context=target.context,
            image=plan.image,
            dockerfile=Path(target.dockerfile),
            extra_tags=plan.tags[1:],
            labels=oci_labels(build.revision, build.source, build.pr or None),
            build_args=dict(build.build_args),
            platforms=build.platforms,
            cache_from=build.cache_from,
            cache_to=build.cache_to[0] if build.cache_to else None,
        )
        built = builder.build(request)
        detail.append(f"built {built.image_id[:19] or plan.image} with {builder.name}")
    return builder, built


def _push(plan: ServicePlan, deps: Dependencies, builder: Builder, built: BuiltImage,
          steps: _Steps) -> PushResult:  # fmt: skip
    """Push what was built and read the digest back from the registry (the source of truth)."""
    with steps.step("push") as detail:
        pushed = builder.push(built)
        detail.append(f"pushed {pushed.digest} with {builder.name}")
    with steps.step("resolve") as detail:
        info = deps.registry.confirm_digest(plan.image, pushed.digest)
        detail.append(f"registry says {plan.image} = {info.digest}")
    return pushed


def _prebuilt_digest(plan: ServicePlan, settings: DeploySettings, deps: Dependencies,
                     steps: _Steps) -> str:  # fmt: skip
    """--no-build: the digest given, after checking the registry has it."""
    digest = settings.build.digest
    if not digest:
        raise UsageError("--no-build needs --digest sha256:...", hint="or drop --no-build")
    with steps.step("resolve") as detail:
        deps.registry.head_digest(plan.repository.with_digest(digest))
        detail.append(f"{plan.repository}@{digest} exists")
    return digest


def _planned(
    target: ServiceTarget, settings: DeploySettings, deps: Dependencies
) -> ServicePlan | ServiceResult:
    """The plan, after reading the image from the Application's alias when none is configured;
    a failed result when that fails (a bad annotation is exit 2, naming it)."""
    try:
        return plan_service(resolve_target(target, settings, deps.applications), settings)
    except PipelineError as e:
        where = application_name(target, settings)
        result = ServiceResult(
            service=target.name, application=f"{where.argocd_namespace}/{where.app}"
        )
        result.result, result.reason, result.exit_code = "failed", e.reason, int(e.exit_code)
        result.message, result.hint = e.message, e.hint
        result.problems = [p.as_dict() for p in getattr(e, "problems", [])]
        return result


def deploy_service(
    target: ServiceTarget,
    settings: DeploySettings,
    deps: Dependencies,
    emit: Emit,
    refusals: list[Refused] | None = None,
) -> ServiceResult:
    """One service, start to finish; a preflight refusal a fix plan can address is appended
    to ``refusals`` (with the live objects the plan needs)."""
    started = deps.clock()
    plan = _planned(target, settings, deps)
    if isinstance(plan, ServiceResult):
        emit(ServiceFinished(plan))
        return plan
    result = ServiceResult(
        service=plan.service,
        image=str(plan.image),
        application=f"{plan.argocd_namespace}/{plan.app}",
        namespace=plan.namespace,
        selector=plan.selector,
        plan=plan_as_dict(plan),
    )
    steps = _Steps(result, emit, deps.clock)
    try:
        if settings.run.dry_run:
            _dry_run(plan, settings, deps, result, steps)
        else:
            _deploy(target, plan, settings, deps, result, steps)
    except PipelineError as e:
        result.result, result.reason, result.exit_code = "failed", e.reason, int(e.exit_code)
        result.message, result.hint = e.message, e.hint
        if isinstance(e, PreflightError):
            result.problems = [p.as_dict() for p in e.problems]
            if refusals is not None and any(p.reason in WORTH_A_FIX for p in e.problems):
                refusal = read_refusal(plan, deps, e)
                if refusal is not None:
                    refusals.append(refusal)
    except Exception as e:  # a bug: still report it with the others' results
        result.result, result.reason = "failed", "internal-error"
        result.exit_code = int(ExitCode.INTERNAL)
        result.message = f"{type(e).__name__}: {e}"
    result.elapsed = deps.clock() - started
    emit(ServiceFinished(result))
    return result


def _dry_run(
    plan: ServicePlan, settings: DeploySettings, deps: Dependencies, result: ServiceResult,
    steps: _Steps,
) -> None:  # fmt: skip
    digest = settings.build.digest or PLACEHOLDER_DIGEST
    result.digest = settings.build.digest or ""
    check_access(deps, plan)
    with steps.step("preflight"):
        try:
            pre = run_preflight(
                deps.applications, deps.cluster, plan, digest,
                pin_method=settings.run.pin_method, render=deps.render,
                pushes=not settings.build.no_build, require_render=settings.run.require_render,
            )  # fmt: skip
        except PreflightError as e:
            raise without_placeholder(e) from None
        _record_render(pre, steps, [])
    name = pre.deployment["metadata"]["name"]
    result.plan.update(
        digest_known=bool(settings.build.digest),
        pin={"method": pre.pin.method, "field": pre.pin.field, "patch": pre.pin.body},
        sync={"operation": sync_operation(plan, digest, name)},
        canary_deployment=name,
    )
    result.result, result.reason, result.exit_code = "planned", "dry-run", int(ExitCode.OK)


def _deploy(
    target: ServiceTarget, plan: ServicePlan, settings: DeploySettings, deps: Dependencies,
    result: ServiceResult, steps: _Steps,
) -> None:  # fmt: skip
    apps, run = deps.applications, settings.run
    pre, digest, config_digest = _preflight_and_digest(target, plan, settings, deps, steps)
    result.digest = digest
    deadline = deps.clock() + plan.timeout
    name = pre.deployment["metadata"]["name"]
    with steps.step("pin") as detail:
        pin, before = write_pin(
            apps, plan, digest, pre, run.pin_method, deadline=deadline, clock=deps.clock
        )
        detail.append(f"{pin.method} -> {pin.field}")
        result.replaced_pr = replaced_pr(before, plan)
    with steps.step("sync"):
        request_sync(
            apps, plan, digest, name, terminate_running=run.terminate_running,
            deadline=deadline, clock=deps.clock, emit=steps.emit,
        )  # fmt: skip
        follow_sync(apps, plan, digest, deadline=deadline, clock=deps.clock)
    with steps.step("verify") as detail:
        container = plan.container or pin.container
        outcome = watch_rollout(
            deps.cluster, service=plan.service, namespace=plan.namespace,
            selector=plan.selector, deployment_name=name, digest=digest, container=container,
            deadline=deadline, clock=deps.clock, emit=steps.emit,
            crash_restarts=run.crashloop_restarts, settle=run.settle,
            config_digest=config_digest,
        )  # fmt: skip
        result.pods = outcome.pods
        if outcome.verdict.state != "done":
            check_final(apps, plan, pin)  # a newer run or an ApplicationSet explains it better
            result.logs, result.events = diagnose(deps.cluster, plan, outcome, container)
            raise error_for(outcome.verdict, plan)
        check_final(apps, plan, pin)
        detail.append(outcome.verdict.message)
    result.result, result.reason, result.exit_code = "succeeded", "deployed", int(ExitCode.OK)


def _preflight_and_digest(
    target: ServiceTarget, plan: ServicePlan, settings: DeploySettings, deps: Dependencies,
    steps: _Steps,
) -> tuple[Preflight, str, str]:  # fmt: skip
    """(preflight, manifest digest, config digest when the build knows it). The preflight runs
    while the image builds: every check but the digest's own value is
    known before the push. The push waits for the preflight, so a refused run leaves the
    registry exactly as it was. The pin is then re-decided with the pushed digest, a pure step.
    With --no-build the digest comes first."""
    method, render = settings.run.pin_method, deps.render
    check_access(deps, plan)  # before anything reads, builds or writes

    def preflight(digest: str) -> Preflight:
        with steps.step("preflight") as detail:
            pre = run_preflight(
                deps.applications, deps.cluster, plan, digest, pin_method=method, render=render,
                pushes=False, require_render=settings.run.require_render,
            )  # fmt: skip
            _record_render(pre, steps, detail)
            return pre

    if settings.build.no_build:
        digest = _prebuilt_digest(plan, settings, deps, steps)
        return preflight(digest), digest, ""
    refuse_shared_tags(deps.cluster, plan)  # the push must not move another workload's tag
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"preflight-{plan.service}") as pool:
        early = pool.submit(preflight, PLACEHOLDER_DIGEST)
        builder, built = _build(target, plan, settings, deps, steps)
        try:
            pre = early.result()
        except PreflightError as e:
            raise without_placeholder(e) from None
    pushed = _push(plan, deps, builder, built, steps)
    digest = pushed.digest
    pin = plan_pin(pre.app, plan, digest, pre.deployment, method)
    if isinstance(pin, Problem):  # cannot happen: the digest does not change the decision
        raise PreflightError([pin])
    return replace(pre, pin=pin), digest, pushed.config_digest


def _record_render(pre: Preflight, steps: _Steps, detail: list[str]) -> None:
    """Say whether the source was rendered here, and if not why: never a silent skip."""
    steps.result.source = {"rendered": pre.rendered, "note": pre.render_note}
    if pre.rendered:
        detail.append("source rendered with the pin")
    else:
        steps.emit(Note(steps.result.service, f"source not rendered here: {pre.render_note}"))


def without_placeholder(error: PreflightError) -> PreflightError:
    """The preflight ran before the push with a stand-in digest; say what it stands for."""
    problems = [
        Problem(
            p.reason,
            p.message.replace(PLACEHOLDER_DIGEST, "<the digest this run pushes>"),
            p.fix.replace(PLACEHOLDER_DIGEST, "<the digest this run pushes>"),
        )
        for p in error.problems
    ]
    return PreflightError(problems)


def deploy_all(
    settings: DeploySettings,
    deps: Dependencies,
    emit: Emit,
    refusals: list[Refused] | None = None,
) -> list[ServiceResult]:
    """Every service at once (threads); results in the order the services were given."""
    targets = settings.services
    with ThreadPoolExecutor(max_workers=max(1, len(targets))) as pool:
        futures = [pool.submit(deploy_service, t, settings, deps, emit, refusals) for t in targets]
        return [f.result() for f in futures]


def worst_exit_code(results: list[ServiceResult]) -> int:
    """The run's exit code: the highest failing code, SUPERSEDED only beating success."""
    codes = [r.exit_code for r in results] or [0]
    return max(codes, key=lambda c: (c != 0, c != ExitCode.SUPERSEDED, c))


__all__ = ["Dependencies", "deploy_all", "deploy_service", "plan_pin", "worst_exit_code"]
