"""`pipeline refresh (--app X | --service S) [--hard] [--wait]`: the refresh annotation
argocd-server writes. The Application name and namespace are read like status's."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.options import (
    OUTPUTS,
    config_option,
    explicit,
    kube_options,
    opt,
    typed_options,
)
from pipeline.config import AppTarget, app_targets, kube_settings, load_config
from pipeline.core.settings import KubeSettings
from pipeline.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from pipeline.wiring import KubeClients


@dataclass(frozen=True)
class RefreshCommand:
    target: AppTarget
    hard: bool
    wait: bool
    timeout: float
    kube: KubeSettings
    output: str


@click.command("refresh")
@opt("--app", help="Argo CD Application name (or template with --service).")
@opt("--service", "-s", help="Service: its Application from the app template of pipeline.yaml.")
@opt("--hard", is_flag=True, help="Regenerate manifests without the repo-server cache.")
@opt("--wait", is_flag=True, help="Wait until the controller finished the refresh.")
@opt("--timeout", type=float, default=60.0, show_default=True, envvar="PIPELINE_REFRESH_TIMEOUT",
     help="Seconds to wait.")  # fmt: skip
@opt("--output", "-o", type=click.Choice(OUTPUTS), default="text")
@config_option
@kube_options
@click.pass_context
def refresh(ctx: click.Context, /, **params: Any) -> None:
    """Ask Argo CD to reconcile an Application now (docs/poll-status.md)."""
    from pipeline.wiring import connect_kube

    if not params["app"] and not params["service"]:
        raise UsageError("pass --app NAME or --service NAME", hint="the Application to refresh")
    config = load_config(params["config"])
    services = (params["service"],) if params["service"] else ()
    (target,) = app_targets(services, explicit(ctx, params), config)[:1]
    from pipeline.core.inputs import positive_seconds

    timeout = positive_seconds("--timeout", params["timeout"])
    command = RefreshCommand(
        target, params["hard"], params["wait"], timeout, kube_settings(params, typed_options(ctx)),
        params["output"],
    )  # fmt: skip
    ctx.exit(int(run(command, connect_kube(command.kube, command.timeout))))


def run(command: RefreshCommand, kube: KubeClients) -> ExitCode:
    from pipeline.commands.lookup import explained, missing_application
    from pipeline.commands.running import interrupted, run_interruptibly
    from pipeline.errors import KubeAccessError, NotFound
    from pipeline.inspect.refresh import refresh_application

    namespace, name = command.target.argocd_namespace, command.target.app
    try:
        result = run_interruptibly(
            lambda: refresh_application(
                kube.applications, namespace, name, hard=command.hard, wait=command.wait,
                timeout=command.timeout, clock=time.monotonic,
            )
        )  # fmt: skip
    except NotFound:
        raise missing_application(kube, namespace, name) from None
    except KubeAccessError as e:
        raise explained(e, kube) from None
    except KeyboardInterrupt as interrupt:
        raise interrupted(
            interrupt, f"the refresh of {namespace}/{name} may have been requested, not waited for"
        ) from None
    if command.output == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return ExitCode.OK
    done = f", reconciled at {result.reconciled_at}" if result.waited else " (not waited for)"
    click.echo(f"{result.kind} refresh of {result.application} requested{done}")
    return ExitCode.OK
