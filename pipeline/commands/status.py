"""`pipeline status`: registry digest, Application pin and pod imageIDs per alias, and whether
they agree. Exit 0 when every alias agrees, 14 (MISMATCH) when one does not."""

from __future__ import annotations

import json
from typing import Any

import click

from pipeline.commands.kubeopts import connect_kube, kube_options, registry_options, registry_pool
from pipeline.errors import ExitCode, UsageError


def render_text(document: dict[str, Any]) -> str:
    lines = [f"Application {document['application']}"]
    for alias in document["aliases"]:
        mark = "agree" if alias["agree"] else "MISMATCH"
        pin = alias["application"] or {}
        lines += [
            f"  {alias['alias']} ({alias['strategy']}): {mark}: {alias['message']}",
            f"    registry:    {alias['registry']['tag'] or '-'} -> "
            f"{alias['registry']['digest'] or alias['registry']['error'] or '-'}",
            f"    application: {pin.get('image') or '(not pinned)'}",
        ]
        lines += [f"    pod {p['pod']}: {p['imageID'] or '(not started)'}" for p in alias["pods"]]
    return "\n".join(lines)


@click.command("status")
@click.option("--service", help="Service: the Application dev-api-SERVICE.")
@click.option("--app", help="Argo CD Application name.")
@click.option("--alias", multiple=True, help="image-list alias to check (repeatable) [all].")
@click.option("--selector", help="Pod label selector of the alias's workload (canary default: "
              "app={service}-api,version=v2).")  # fmt: skip
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text")
@kube_options
@registry_options
@click.pass_context
def status(ctx: click.Context, /, **params: Any) -> None:
    """What the registry has, what the Application pins, what the pods run (docs/poll-status.md)."""
    from pipeline.core.imageupdater.annotations import ImageConfig, parse_application
    from pipeline.inspect.status import application_status, destination_namespace

    if bool(params["service"]) == bool(params["app"]):
        raise UsageError("pass exactly one of --service or --app")
    name = params["app"] or f"dev-api-{params['service']}"
    apps, cluster = connect_kube(params)
    app = apps.get_application(params["argocd_namespace"], name)
    config = parse_application(app)
    if config is None:
        raise UsageError(
            f"Application {name} has no argocd-image-updater.argoproj.io/image-list annotation",
            hint="add e.g. 'canary=<registry>/<repo>:<tag>' so status knows the images",
        )
    pool = registry_pool(params, cluster)

    def head_digest(image: ImageConfig, tag: str) -> str:
        client = pool.client(image.pull_secret)
        return str(client.head_digest(image.image.registry_ref().with_tag(tag)).digest)

    aliases = tuple(params["alias"])
    selectors = (
        {a: params["selector"] for a in aliases or ("canary",)} if params["selector"] else {}
    )
    try:
        statuses = application_status(
            app, config, cluster=cluster, head_digest=head_digest,
            service=params["service"] or destination_namespace(app),
            aliases=aliases, selectors=selectors,
        )  # fmt: skip
    finally:
        pool.close()
    agree = all(s.agreement.agree for s in statuses)
    code = ExitCode.OK if agree else ExitCode.MISMATCH
    document = {
        "schema_version": 1,
        "application": f"{params['argocd_namespace']}/{name}",
        "agree": agree,
        "exit_code": int(code),
        "aliases": [s.as_dict() for s in statuses],
    }
    if params["output"] == "json":
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(render_text(document))
    ctx.exit(int(code))
