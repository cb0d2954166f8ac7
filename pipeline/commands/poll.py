"""`pipeline poll [--once | --interval 2m]`: image-updater's job, fewer registry requests.

Meant to run as a Kubernetes CronJob or Argo CronWorkflow with ``--once`` (the default);
``--interval`` repeats cycles in the foreground for local use. Exit code: 0 when every
Application was read and every due update succeeded, else the worst failure's code.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid
from typing import Any

import click

from pipeline.commands.kubeopts import connect_kube, kube_options, registry_options, registry_pool
from pipeline.errors import UsageError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


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
@click.option("--once", is_flag=True, help="Run one cycle and exit (the default).")
@click.option("--interval", help="Repeat cycles every INTERVAL (e.g. 2m) until interrupted.")
@click.option("--selector", "-l", default="", help="Label selector of the Applications.")
@click.option("--dry-run", is_flag=True, help="Decide and report; write nothing.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds per update (pin, sync, verify).")  # fmt: skip
@click.option("--settle", type=float, default=1.0, show_default=True)
@click.option("--workers", type=int, default=10, show_default=True,
              help="Concurrent registry requests.")  # fmt: skip
@click.option("--run-id", default="", help="Names this run in the sync marker.")
@kube_options
@registry_options
@click.pass_context
def poll(ctx: click.Context, /, **params: Any) -> None:
    """Update every annotated Application whose image moved (docs/poll-status.md)."""
    from pipeline.adapters.kubereads import list_applications
    from pipeline.adapters.sources import default_cache_dir, make_render
    from pipeline.core.ports import Dependencies
    from pipeline.poll.cycle import CycleDeps, PollSettings, run_cycle
    from pipeline.poll.execute import UpdateRun
    from pipeline.poll.targets import cached
    from pipeline.report.text import TextReporter

    if params["once"] and params["interval"]:
        raise UsageError("pass --once or --interval, not both")
    interval = parse_interval(params["interval"]) if params["interval"] else None
    apps, cluster = connect_kube(params)
    progress = TextReporter(sys.stderr)
    settings = PollSettings(
        namespace=params["argocd_namespace"],
        selector=params["selector"],
        dry_run=params["dry_run"],
        registry_workers=params["workers"],
        run=UpdateRun(
            run_id=params["run_id"] or f"poll-{uuid.uuid4().hex[:8]}",
            timeout=params["timeout"],
            settle=params["settle"],
        ),
    )

    def deployments_of(namespace: str) -> list[dict[str, Any]]:
        return list(cluster.list_objects("deployments", namespace)[0])

    render = make_render(default_cache_dir(os.environ))  # one cache for every cycle
    while True:
        started = time.monotonic()
        pool = registry_pool(params, cluster)
        deps = CycleDeps(
            list_applications=lambda ns, sel: list_applications(apps, ns, sel),
            deployments_of=cached(deployments_of),
            pool=pool,
            deploy=lambda digests: Dependencies(
                applications=apps,
                cluster=cluster,
                registry=digests,
                render=render,
            ),
        )
        try:
            report = run_cycle(settings, deps, progress.emit)
            document = report.as_dict()
        finally:
            pool.close()
        if params["output"] == "json":
            click.echo(json.dumps(document, indent=2))
        else:
            click.echo(render_text(document))
        if interval is None:
            ctx.exit(int(document["exit_code"]))
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
