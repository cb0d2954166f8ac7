"""`pipeline cleanup-canary`: remove our pin from the Applications of a PR's services.

Targets are resolved exactly as for deploy-canary (flags > ``PIPELINE_*`` > pipeline.yaml >
defaults, pipeline/config.py), so the same pipeline.yaml drives both. Without ``--service``
every service listed in pipeline.yaml is cleaned: cleanup is idempotent and cheap for a service
that was never pinned. A service whose Application does not exist fails with exit 7 (the
others are still cleaned).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.options import config_option, explicit, kube_options, opt, typed_options
from pipeline.config import cleanup_settings, kube_settings, load_config
from pipeline.core.settings import DeploySettings, KubeSettings
from pipeline.errors import ExitCode, KubeAccessError, PipelineError

if TYPE_CHECKING:
    from pipeline.cleanup.run import CleanupResult
    from pipeline.report.base import Reporter
    from pipeline.wiring import KubeClients


@dataclass(frozen=True)
class CleanupCommand:
    settings: DeploySettings
    kube: KubeSettings
    output: str


@click.command("cleanup-canary")
@opt("--service", "-s", multiple=True, help="Service to clean (repeatable) [default: all].")
@opt("--pr", default="", help="Only remove a pin this PR made [default: from $GITHUB_REF].")
@opt("--image", help="Repository without tag (as for deploy-canary).")
@opt("--tag", help="Canary tag template (as for deploy-canary).")
@opt("--alias", help="image-updater alias to read image and tag from [default: canary].")
@opt("--app", help="Argo CD Application template [default: dev-api-{service}].")
@opt("--namespace", help="Canary namespace template [default: {service}].")
@opt("--selector", help="Canary pod label selector [default: app={service}-api,version=v2].")
@opt("--timeout", type=float, default=300.0, show_default=True, help="Seconds per service.")
@opt("--output", "-o", type=click.Choice(["text", "json", "github"]), default="text")
@opt("--run-id", default="", help="Names this run in the sync marker [default: GitHub run].")
@config_option
@kube_options
@click.pass_context
def cleanup_canary(ctx: click.Context, /, **params: Any) -> None:
    """Remove the canary pin, restore what it replaced, sync and confirm (idempotent)."""
    from pipeline.report.text import TextReporter
    from pipeline.wiring import connect_kube

    config = load_config(params["config"])
    command = CleanupCommand(
        cleanup_settings(params, explicit(ctx, params), config, os.environ),
        kube_settings(params, typed_options(ctx)),
        params["output"],
    )
    run_settings = command.settings
    # --timeout is per service, the services one after the other: the run's one deadline
    budget = run_settings.run.timeout * max(1, len(run_settings.services))
    kube = connect_kube(command.kube, budget)
    progress = TextReporter(sys.stderr if command.output == "json" else sys.stdout, sys.stderr)
    ctx.exit(int(run(command, kube, progress)))


def _clean_one(
    target: Any, settings: DeploySettings, kube: KubeClients, progress: Reporter
) -> CleanupResult:
    from pipeline.cleanup.run import CleanupResult, cleanup_service
    from pipeline.commands.lookup import explained, get_application
    from pipeline.core.alias import target_from_annotations
    from pipeline.core.plan import application_name, plan_service

    where = application_name(target, settings)
    try:
        app = get_application(kube, where.argocd_namespace, where.app)
        # like deploy-canary: without --image, the image and tag come from the alias
        resolved = target if target.image else target_from_annotations(target, app)
        plan = plan_service(resolved, settings)
    except PipelineError as e:
        if isinstance(e, KubeAccessError):
            e = explained(e, kube)
        return CleanupResult(
            target.name, f"{where.argocd_namespace}/{where.app}", error_reason=e.reason,
            exit_code=int(e.exit_code), message=e.message, hint=e.hint,
        )  # fmt: skip
    return cleanup_service(
        plan, kube.applications, kube.cluster, pr=settings.build.pr, emit=progress.emit
    )


def run(command: CleanupCommand, kube: KubeClients, progress: Reporter) -> ExitCode:
    """Clean every service one after another; print the report; the worst exit code.
    Ctrl-C / SIGTERM: the services done so far are reported, then 130 / 143."""
    from pipeline.commands.running import interrupt_code, run_interruptibly, signal_name

    settings = command.settings
    results: list[CleanupResult] = []
    code = ExitCode.OK
    try:
        for target in settings.services:
            results.append(run_interruptibly(partial(_clean_one, target, settings, kube, progress)))
    except KeyboardInterrupt as interrupt:
        from pipeline.cleanup.run import CleanupResult
        from pipeline.core.plan import application_name

        code = interrupt_code(interrupt)
        for target in settings.services[len(results) :]:
            where = application_name(target, settings)
            results.append(
                CleanupResult(
                    target.name,
                    f"{where.argocd_namespace}/{where.app}",
                    error_reason="interrupted",
                    exit_code=int(code),
                    message=f"interrupted by {signal_name(interrupt)} before it finished",
                    hint="rerun cleanup-canary: it is idempotent",
                )
            )
    if code == ExitCode.OK:
        code = ExitCode(max((r.exit_code for r in results), default=int(ExitCode.OK)))
    report(results, code, settings.build.pr, command.output)
    return code


def report(results: list[CleanupResult], code: int, pr: str, output: str) -> None:
    from pipeline.cleanup.report import document, write_github

    if output == "json":
        click.echo(json.dumps(document(results, code, pr), indent=2))
    else:
        for r in results:
            line = f"[{r.service}] {r.result}: {r.message or r.reason}"
            click.echo(line, err=r.result == "failed")
            if r.result == "failed" and r.hint:
                click.echo(f"[{r.service}]   hint: {r.hint}", err=True)
    if output == "github":
        env = os.environ
        write_github(
            results, code, pr,
            Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
        )  # fmt: skip
        for r in results:
            if r.result == "failed":
                click.echo(f"::error title=cleanup-canary {r.service} ({r.reason})::{r.message}")
