"""`pipeline deploy-canary`: parse flags, environment and pipeline.yaml; run the core; report.

Every option reads ``PIPELINE_<OPTION>`` (e.g. ``PIPELINE_SERVICE="auth users"``: repeatable
options split on whitespace, click's rule for ``multiple=True``). Precedence: flag, env,
pipeline.yaml (the service's entry, then the top level), built-in default (pipeline/config.py).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.options import (
    backend_options,
    config_option,
    explicit,
    opt,
    typed_options,
)
from pipeline.config import (
    CONFIG_KEYS,
    OTHER_COMMANDS_KEYS,
    deploy_settings,
    kube_settings,
    load_config,
    registry_settings,
)
from pipeline.core.events import (
    Event,
    ServiceFinished,
    ServiceResult,
    StepFinished,
    StepStarted,
)
from pipeline.core.settings import (
    PIN_METHODS,
    DeploySettings,
    KubeSettings,
    RegistrySettings,
    ServiceTarget,
)
from pipeline.errors import ExitCode, KubeAccessError, PipelineError, UsageError

if TYPE_CHECKING:
    from pipeline.core.ports import Dependencies
    from pipeline.deploy.fixplan import Refused
    from pipeline.report.base import Reporter


@dataclass(frozen=True)
class DeployCommand:
    """Everything deploy-canary was asked to do, before anything connects."""

    deploy: DeploySettings
    kube: KubeSettings
    registry: RegistrySettings
    output: str
    fix_out: Path | None = None  # where a verified fix plan's patch is written
    config: Path | None = None  # the pipeline.yaml given (--config), for the fix plan


def build_settings(
    ctx: click.Context, params: dict[str, Any], env: dict[str, str]
) -> DeploySettings:
    """The deploy settings from the parsed command line, the environment and pipeline.yaml."""
    config = load_config(params["config"])
    return deploy_settings(params, explicit(ctx, params), config, env)


@click.command("deploy-canary")
@opt("--service", "-s", multiple=True, help="Service to deploy (repeatable).")
@opt("--image", help="Repository without tag [default: the alias's, from the Application].")
@opt("--tag", help="Canary tag template [default: the alias's tag, else {service}-dev-canary].")
@opt("--alias", help="argocd-image-updater image-list alias to read [default: canary].")
@opt("--context", type=click.Path(path_type=Path), help="Build context directory.")
@opt("--file", "-f", help="Dockerfile, relative to the context [default: Dockerfile].")
@opt("--app", help="Argo CD Application template [default: dev-api-{service}].")
@opt("--argocd-namespace", default="argocd", show_default=True)
@opt("--namespace", help="Canary namespace template [default: {service}].")
@opt("--selector", help="Canary pod label selector [default: app={service}-api,version=v2].")
@opt("--container", help="Container to pin when the pod has several.")
@opt(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds from the push (or the start) to verified.",
)
@opt("--output", "-o", type=click.Choice(["text", "json", "github"]), default="text")
@opt("--dry-run", is_flag=True, help="Print the plan; write nothing (no build, no push).")
@opt("--no-build", is_flag=True, help="Deploy an image pushed elsewhere (needs --digest).")
@opt("--digest", help="sha256:... of the image pushed elsewhere.")
@opt("--revision", default="", help="Git SHA built [default: $GITHUB_SHA].")
@opt("--source", default="", help="Source repository URL [default: from $GITHUB_REPOSITORY].")
@opt("--pr", default="", help="Pull request number [default: from $GITHUB_REF].")
@opt("--platform", multiple=True, help="Target platform (repeatable; buildx only).")
@opt("--cache-from", multiple=True, help="Build cache source (repeatable).")
@opt("--cache-to", help="Build cache destination (buildx only).")
@opt("--build-arg", multiple=True, help="KEY=VALUE passed to the build (repeatable).")
@opt("--terminate-running", is_flag=True, help="Terminate an Argo CD operation in progress.")
@opt("--pin-method", default="auto", show_default=True, type=click.Choice(PIN_METHODS))
@opt("--crashloop-restarts", type=int, default=2, show_default=True)
@opt("--settle", type=float, default=1.0, show_default=True, help="Seconds pods must stay ready.")
@opt("--run-id", default="", help="Names this run in the sync marker [default: GitHub run].")
@opt(
    "--source-dir",
    multiple=True,
    metavar="[REPO_URL=]DIR",
    help="A local clone standing for the Applications' git repository (its origin, or "
    "REPO_URL); its target branch is fetched and rendered, never its working tree.",
)
@opt(
    "--fix-out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the verified fix plan's patch here (for git apply in the GitOps repository).",
)
@opt(
    "--require-render",
    is_flag=True,
    help="Refuse the run when the source cannot be rendered here (docs/sources.md).",
)
@config_option
@backend_options
@opt("--registry-ca", type=click.Path(path_type=Path, dir_okay=False), help="CA bundle.")
@opt("--insecure-registry", multiple=True, help="Registry host allowed over plain HTTP.")
@click.pass_context
def deploy_canary(ctx: click.Context, /, **params: Any) -> None:
    """Build, push, pin, sync and verify a canary image (docs/deploy-canary.md)."""
    from pipeline.report import make_reporter
    from pipeline.wiring import connect_kube, deploy_dependencies

    env = dict(os.environ)
    reporter = make_reporter(params["output"], sys.stdout, sys.stderr, env)
    kube = None
    try:
        command = DeployCommand(
            build_settings(ctx, params, env),
            kube_settings(params, typed_options(ctx)),
            registry_settings(params),
            params["output"],
            params["fix_out"],
            params["config"],
        )
        check_offline(command.deploy)
        kube = connect_kube(command.kube, command.deploy.run.timeout)
        reporter.connected(kube.backend, kube.server)
        build = command.deploy.build
        if not build.no_build and not command.deploy.run.dry_run:
            for target in command.deploy.services:  # after the kubeconfig's own checks
                check_build_files(target)
        deps = deploy_dependencies(
            command.deploy, kube, command.registry, tuple(params["source_dir"])
        )
    except KeyboardInterrupt as interrupt:  # before anything was written
        from pipeline.commands.running import interrupt_code, signal_name

        code = interrupt_code(interrupt)
        stopped = ServiceResult(
            service=",".join(params["service"]), reason="interrupted", exit_code=int(code),
            message=f"interrupted by {signal_name(interrupt)} before connecting; nothing written",
        )  # fmt: skip
        reporter.emit(ServiceFinished(stopped))
        reporter.finish([stopped], int(code))
        ctx.exit(int(code))
    except PipelineError as e:
        if kube is not None and isinstance(e, KubeAccessError):
            from pipeline.commands.lookup import explained

            e = explained(e, kube)
        result = ServiceResult(
            service=",".join(params["service"]), reason=e.reason, exit_code=int(e.exit_code),
            message=e.message, hint=e.hint,
        )  # fmt: skip
        reporter.finish([result], int(e.exit_code))
        if params["output"] != "json":
            raise e from None
        ctx.exit(int(e.exit_code))
    from pipeline.commands.lookup import unreachable_hint

    ctx.exit(int(run(command, deps, reporter, server_hint=unreachable_hint(kube))))


class _Progress:
    """What the run did so far, for a report after Ctrl-C; drops events once interrupted."""

    def __init__(
        self, reporter: Reporter, server_hint: str = "", pushed: Callable[[], None] = lambda: None
    ) -> None:
        self.reporter, self.server_hint, self.pushed = reporter, server_hint, pushed
        self.finished: dict[str, ServiceResult] = {}
        self.step: dict[str, str] = {}
        self.done: dict[str, set[str]] = {}  # steps each service finished successfully
        self.lock = threading.Lock()
        self.closed = False

    def emit(self, event: Event) -> None:
        with self.lock:  # held while forwarding: nothing is printed after close()
            if self.closed:
                return
            if isinstance(event, ServiceFinished):
                result = event.result
                if self.server_hint and result.reason == "kube-unreachable":
                    result.hint = self.server_hint
                if result.reason == "internal-error" and not result.hint:
                    step = self.step.get(result.service, "its start")
                    result.hint = f"a bug in the {step} step: please report it with this output"
                self.finished[event.result.service] = event.result
            elif isinstance(event, StepStarted):
                self.step[event.service] = event.step
                if event.step in ("push", "pin"):  # --timeout counts from the push (the
                    self.pushed()  # build may take longer); the core's own from the pin
            elif isinstance(event, StepFinished) and event.ok:
                self.done.setdefault(event.service, set()).add(event.step)
            self.reporter.emit(event)

    def close(self) -> None:
        with self.lock:
            self.closed = True


def run(
    command: DeployCommand, deps: Dependencies, reporter: Reporter, *, server_hint: str = ""
) -> ExitCode:
    """Deploy every service; report; the run's exit code. Ctrl-C / SIGTERM: 130 / 143 with
    the services finished so far and, for the others, the step they were in."""
    from pipeline.commands.running import interrupt_code, run_interruptibly, signal_name
    from pipeline.deploy.orchestrate import deploy_all, worst_exit_code
    from pipeline.deploy.refusal import fix_plan
    from pipeline.wiring import extend_deadline, request_counts

    settings = command.deploy
    progress = _Progress(reporter, server_hint, lambda: extend_deadline(deps, settings.run.timeout))
    refusals: list[Refused] = []
    try:
        results = run_interruptibly(lambda: deploy_all(settings, deps, progress.emit, refusals))
    except KeyboardInterrupt as interrupt:
        progress.close()
        code = interrupt_code(interrupt)
        results = []
        for target in settings.services:
            done = progress.finished.get(target.name)
            if done is None:
                step = progress.step.get(target.name, "start")
                written, hint = what_was_written(step, progress.done.get(target.name, set()))
                done = ServiceResult(
                    service=target.name, reason="interrupted", exit_code=int(code),
                    message=f"interrupted by {signal_name(interrupt)} during {step}: {written}",
                    hint=hint,
                )  # fmt: skip
                reporter.emit(ServiceFinished(done))
            results.append(done)
        reporter.finish(results, int(code), request_counts(deps))
        return code
    code = ExitCode(worst_exit_code(results))
    plan = fix_plan(refusals, deps, command.config)
    if plan is not None:
        reporter.fix(plan.as_dict())
        if command.fix_out is not None and plan.verified:
            command.fix_out.write_text(plan.patch)
            if plan.config_patch:
                command.fix_out.with_suffix(".config.patch").write_text(plan.config_patch)
    reporter.finish(results, int(code), request_counts(deps))
    return code


def what_was_written(step: str, done: set[str]) -> tuple[str, str]:
    """What a run stopped during ``step`` (having finished ``done``) left behind, and what to
    do about it (docs/troubleshooting.md, "A cancelled run")."""
    finish = "rerun deploy-canary to finish, or cleanup-canary to remove the pin"
    if "sync" in done:
        return "pinned and synced (the rollout was being verified)", finish
    if "pin" in done:
        return (
            "pinned; the sync may have been requested (Argo CD goes on with it)",
            f"an Argo CD operation already requested goes on; {finish}",
        )
    if step == "pin":
        return "the pin may or may not have been written (one atomic request)", finish
    if "push" in done or step == "push":
        return (
            "the canary tag may have been pushed; nothing written to the Application",
            "rerun deploy-canary (the Application was not changed)",
        )
    return "nothing written, nothing pushed", "rerun deploy-canary"


def check_offline(settings: DeploySettings) -> None:
    """Refuse bad input before connecting anywhere: a bad --digest, or a bad image, tag or
    template of a service whose image is configured (the others are read from the
    Application's annotations once connected)."""
    from pipeline.core.images import validate_digest
    from pipeline.core.plan import plan_service

    if settings.build.digest:
        validate_digest(settings.build.digest)
    for target in settings.services:
        if target.image:
            plan_service(target, settings)


def check_build_files(target: ServiceTarget) -> None:
    """The build context is a readable directory and the Dockerfile a file inside it."""
    context = Path(target.context)
    if not context.is_dir():
        what = "is not a directory" if context.exists() else "does not exist"
        raise UsageError(
            f"build context {context} of service {target.name!r} {what}",
            hint="pass --context DIR (or context: in pipeline.yaml) naming the directory to build",
        )
    dockerfile = (context / target.dockerfile).resolve()
    if not dockerfile.is_relative_to(context.resolve()):
        raise UsageError(
            f"Dockerfile {target.dockerfile} of service {target.name!r} is outside the build "
            f"context {context}",
            hint="pass --file relative to the context, without '..' leaving it",
        )
    if not dockerfile.is_file():
        raise UsageError(
            f"Dockerfile {dockerfile} of service {target.name!r} does not exist",
            hint="pass --file (relative to --context) naming the Dockerfile",
        )


__all__ = ["CONFIG_KEYS", "OTHER_COMMANDS_KEYS", "DeployCommand", "deploy_canary", "run"]
