"""`pipeline refresh --app X [--hard] [--wait]`: the refresh annotation argocd-server writes."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from pipeline.commands.kubeopts import connect_kube, kube_options


@click.command("refresh")
@click.option("--app", required=True, help="Argo CD Application name.")
@click.option("--hard", is_flag=True, help="Regenerate manifests without the repo-server cache.")
@click.option("--wait", is_flag=True, help="Wait until the controller finished the refresh.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@kube_options
def refresh(**params: Any) -> None:
    """Ask Argo CD to reconcile an Application now (docs/poll-status.md)."""
    from pipeline.inspect.refresh import refresh_application

    apps, _ = connect_kube(params)
    result = refresh_application(
        apps, params["argocd_namespace"], params["app"], hard=params["hard"],
        wait=params["wait"], timeout=params["timeout"], clock=time.monotonic,
    )  # fmt: skip
    if params["output"] == "json":
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    done = f", reconciled at {result.reconciled_at}" if result.waited else " (not waited for)"
    click.echo(f"{result.kind} refresh of {result.application} requested{done}")
