"""`pipeline poll [--once | --interval 2m]`: image-updater's job, fewer registry requests.

Meant to run as a Kubernetes CronJob or Argo CronWorkflow with ``--once`` (the default);
``--interval`` repeats cycles in the foreground for local use. Exit code: 0 when every
Application was read and every due update succeeded, else the worst failure's code.

pipeline.yaml is read like deploy-canary's: ``argocd_namespace``, ``timeout``, ``settle``,
``crashloop_restarts``; with services (``--service`` or pipeline.yaml's ``services``) only
their Applications (the ``app`` template) are polled, else every annotated Application
matching ``-l``.
"""

from __future__ import annotations

import json
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from pipeline.commands.options import (
    OUTPUTS,
    config_option,
    explicit,
    kube_options,
    opt,
    registry_options,
    typed_options,
)
from pipeline.config import (
    app_targets,
    kube_settings,
    load_config,
    registry_settings,
    run_value,
)
from pipeline.core.settings import KubeSettings, RegistrySettings
from pipeline.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from pipeline.core.events import Emit
    from pipeline.poll.cycle import PollSettings
    from pipeline.wiring import KubeClients

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


@dataclass(frozen=True)
class PollCommand:
    poll: PollSettings
    applications: frozenset[str] | None  # names to poll; None = every one matching -l
    interval: float | None  # None: one cycle
    kube: KubeSettings
    registry: RegistrySettings
    output: str


def parse_interval(text: str) -> float:
    """``90``, ``90s``, ``2m``, ``1h`` -> seconds (image-updater's ``--interval`` form)."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--interval {text!r} is not a duration", hint="e.g. 30s, 2m or 1h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


def render_text(document: dict[str, Any]) -> str:
    lines = []
    for app in document["applications"]:
        if app["error"]:
            lines.append(f"{app['application']}: error: {app['error']['message']}")
        for alias in app["aliases"]:
            what = alias.get("reason") or (alias.get("error") or {}).get("message", "")
            lines.append(f"{app['application']} {alias['alias']}: {alias['result']}: {what}")
    requests = ", ".join(f"{k}={v}" for k, v in document["registry"]["requests"].items())
    lines.append(f"registry requests: {requests or 'none'}")
    return "\n".join(lines)


@click.command("poll")
@opt("--once", is_flag=True, help="Run one cycle and exit (the default).")
@opt("--interval", help="Repeat cycles every INTERVAL (e.g. 2m) until interrupted.")
@opt("--selector", "-l", default="", envvar="PIPELINE_POLL_SELECTOR",
     help="Label selector of the Applications.")  # fmt: skip
@opt("--service", "-s", multiple=True,
     help="Poll only this service's Application (repeatable) [default: pipeline.yaml's "
     "services, else every annotated Application].")  # fmt: skip
@opt("--app", help="Application name template for --service [default: dev-api-{service}].")
@opt("--dry-run", is_flag=True, help="Decide and report; write nothing.")
@opt("--output", "-o", type=click.Choice(OUTPUTS), default="text")
@opt("--timeout", type=float, default=300.0, show_default=True,
     help="Seconds per update (pin, sync, verify).")  # fmt: skip
@opt("--settle", type=float, default=1.0, show_default=True)
@opt("--workers", type=click.IntRange(min=1), default=10, show_default=True,
     help="Concurrent registry requests.")  # fmt: skip
@opt("--run-id", default="", help="Names this run in the sync marker.")
@config_option
@kube_options
@registry_options
@click.pass_context
def poll(ctx: click.Context, /, **params: Any) -> None:
    """Update every annotated Application whose image moved (docs/poll-status.md)."""
    from pipeline.report.text import TextReporter
    from pipeline.wiring import connect_kube

    if params["once"] and params["interval"]:
        raise UsageError("pass --once or --interval, not both")
    command = poll_command(ctx, params)
    kube = connect_kube(command.kube)
    ctx.exit(int(run(command, kube, TextReporter(sys.stderr).emit)))


def poll_command(ctx: click.Context, params: dict[str, Any]) -> PollCommand:
    from pipeline.core.inputs import non_negative_count, non_negative_seconds, positive_seconds
    from pipeline.poll.cycle import PollSettings
    from pipeline.poll.execute import UpdateRun

    config = load_config(params["config"])
    chosen = explicit(ctx, params)
    chosen.pop("selector", None)  # poll's -l selects Applications, not canary pods
    services = tuple(params["service"]) or config.service_names()
    apps = app_targets(services, chosen, config) if services else ()
    return PollCommand(
        poll=PollSettings(
            namespace=str(run_value("argocd_namespace", chosen, config, "argocd")),
            selector=params["selector"],
            dry_run=params["dry_run"],
            registry_workers=params["workers"],
            run=UpdateRun(
                run_id=params["run_id"] or f"poll-{uuid.uuid4().hex[:8]}",
                timeout=positive_seconds(
                    "--timeout", run_value("timeout", chosen, config, params["timeout"])
                ),
                settle=non_negative_seconds(
                    "--settle", run_value("settle", chosen, config, params["settle"])
                ),
                crashloop_restarts=non_negative_count(
                    "crashloop_restarts", run_value("crashloop_restarts", chosen, config, 2)
                ),
            ),
        ),
        applications=frozenset(a.app for a in apps) if apps else None,
        interval=parse_interval(params["interval"]) if params["interval"] else None,
        kube=kube_settings(params, typed_options(ctx)),
        registry=registry_settings(params),
        output=params["output"],
    )


def _lister(command: PollCommand, kube: KubeClients) -> Callable[[str, str], list[Any]]:
    from pipeline.commands.lookup import missing_applications, missing_namespace

    def listed(namespace: str, selector: str) -> list[Any]:
        items = kube.list_applications(namespace, selector)
        if not items:
            missing = missing_namespace(kube, namespace, "the Applications to poll")
            if missing is not None:
                raise missing
        if command.applications is None:
            return items
        chosen = [a for a in items if a["metadata"]["name"] in command.applications]
        absent = sorted(command.applications - {a["metadata"]["name"] for a in chosen})
        if absent:
            raise missing_applications(kube, namespace, absent, selector)
        return chosen

    return listed


def cycle(command: PollCommand, kube: KubeClients, emit: Emit) -> dict[str, Any]:
    """One cycle's JSON document."""
    from pipeline.core.ports import Dependencies
    from pipeline.poll.cycle import CycleDeps, run_cycle
    from pipeline.poll.targets import cached
    from pipeline.wiring import registry_pool, renderer

    def deployments_of(namespace: str) -> list[dict[str, Any]]:
        return list(kube.cluster.list_objects("deployments", namespace)[0])

    pool = registry_pool(command.registry, kube)
    render = renderer(kube, command.poll.namespace)
    deps = CycleDeps(
        list_applications=_lister(command, kube),
        deployments_of=cached(deployments_of),
        pool=pool,
        deploy=lambda digests: Dependencies(
            applications=kube.applications, cluster=kube.cluster, registry=digests,
            render=render,
        ),
    )  # fmt: skip
    try:
        return run_cycle(command.poll, deps, emit).as_dict()
    finally:
        pool.close()


def run(command: PollCommand, kube: KubeClients, emit: Emit) -> ExitCode:
    """One cycle (or one per interval until interrupted); the last cycle's exit code."""
    from pipeline.commands.lookup import explained
    from pipeline.commands.running import interrupted, run_interruptibly
    from pipeline.errors import KubeAccessError

    cycles = 0
    try:
        while True:
            started = time.monotonic()
            try:
                document = run_interruptibly(lambda: cycle(command, kube, emit), "poll")
            except KubeAccessError as e:
                raise explained(e, kube) from None
            cycles += 1
            if command.output == "json":
                click.echo(json.dumps(document, indent=2))
            else:
                click.echo(render_text(document))
            if command.interval is None:
                return ExitCode(document["exit_code"])
            time.sleep(max(0.0, command.interval - (time.monotonic() - started)))
    except KeyboardInterrupt as interrupt:
        if command.output == "json":
            click.echo(json.dumps({"schema_version": 1, "interrupted": True,
                                   "cycles_completed": cycles}, indent=2))  # fmt: skip
        raise interrupted(
            interrupt, f"{cycles} poll cycle(s) completed",
            hint="an update stopped between its pin and its verification may not be synced: "
            "check it with `pipeline status --app NAME`",
        ) from None  # fmt: skip
