"""`pipeline status`: registry digest, Application pin and pod imageIDs per alias, and whether
they agree. Exit 0 when every alias agrees, 14 (MISMATCH) when one does not.

The Applications come from ``--service`` (repeatable) or pipeline.yaml's services, named by the
``app`` template (default ``dev-api-{service}``), or from ``--app NAME``; ``argocd_namespace``,
``selector``, ``namespace`` and ``alias`` are read like deploy-canary's (pipeline/config.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
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
    AppTarget,
    app_targets,
    kube_settings,
    load_config,
    registry_settings,
)
from pipeline.core.settings import KubeSettings, RegistrySettings
from pipeline.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from pipeline.core.ports import Registries
    from pipeline.wiring import KubeClients


@dataclass(frozen=True)
class StatusCommand:
    targets: tuple[AppTarget, ...]
    aliases: tuple[str, ...]  # aliases to check; () = all
    kube: KubeSettings
    registry: RegistrySettings
    output: str


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
@opt("--service", "-s", multiple=True,
     help="Service (repeatable): its Application from the app template [default: the "
     "services in pipeline.yaml].")  # fmt: skip
@opt("--app", help="Argo CD Application name, or template with --service [default: "
     "dev-api-{service}].")  # fmt: skip
@opt("--alias", multiple=True, envvar="PIPELINE_STATUS_ALIAS",
     help="image-list alias to check (repeatable) [all].")  # fmt: skip
@opt("--selector", help="Pod label selector of the alias's workload (canary default: "
     "app={service}-api,version=v2).")  # fmt: skip
@opt("--namespace", help="Namespace of the workloads [default: the Application's destination].")
@opt("--output", "-o", type=click.Choice(OUTPUTS), default="text")
@config_option
@kube_options
@registry_options
@click.pass_context
def status(ctx: click.Context, /, **params: Any) -> None:
    """What the registry has, what the Application pins, what the pods run (docs/poll-status.md)."""
    from pipeline.wiring import connect_kube, registry_pool

    config = load_config(params["config"])
    chosen = explicit(ctx, params)
    chosen.pop("alias", None)  # the aliases to check, not the alias of the selector
    aliases = tuple(params["alias"])
    command = StatusCommand(
        targets=app_targets(tuple(params["service"]), chosen, config),
        aliases=aliases,
        kube=kube_settings(params, typed_options(ctx)),
        registry=registry_settings(params),
        output=params["output"],
    )
    kube = connect_kube(command.kube)
    pool = registry_pool(command.registry, kube)
    try:
        code = run(command, kube, pool)
    finally:
        pool.close()
    ctx.exit(int(code))


def _document(target: AppTarget, command: StatusCommand, kube: KubeClients,
              pool: Registries) -> dict[str, Any]:  # fmt: skip
    from pipeline.commands.lookup import explained, get_application, missing_namespace
    from pipeline.core.imageupdater.annotations import ImageConfig, parse_application
    from pipeline.errors import KubeAccessError
    from pipeline.inspect.status import application_status, destination_namespace

    namespace, name = target.argocd_namespace, target.app
    try:
        app = get_application(kube, namespace, name)
        config = parse_application(app)
        if config is None:
            raise UsageError(
                f"Application {namespace}/{name} has no "
                "argocd-image-updater.argoproj.io/image-list annotation",
                hint="add e.g. 'canary=<registry>/<repo>:<tag>' so status knows the images",
            )

        def head_digest(image: ImageConfig, tag: str) -> str:
            client = pool.client(image.pull_secret)
            return str(client.head_digest(image.image.registry_ref().with_tag(tag)).digest)

        selectors: dict[str, str] = {}
        if target.selector:
            selectors = {a: target.selector for a in command.aliases or (target.alias,)}
        workloads = target.namespace or destination_namespace(app)
        statuses = application_status(
            app, config, cluster=kube.cluster, head_digest=head_digest,
            service=target.service or workloads, aliases=command.aliases, selectors=selectors,
            namespace=workloads,
        )  # fmt: skip
    except KubeAccessError as e:
        raise explained(e, kube) from None
    if statuses and all(s.agreement.reason == "workload-not-found" for s in statuses):
        missing = missing_namespace(kube, workloads, f"the workloads of Application {name}")
        if missing is not None:
            missing.hint = (
                "pass --namespace (or namespace: in pipeline.yaml), or fix the Application's "
                "spec.destination.namespace"
            )
            raise missing
    agree = all(s.agreement.agree for s in statuses)
    code = ExitCode.OK if agree else ExitCode.MISMATCH
    return {
        "schema_version": 1,
        "application": f"{namespace}/{name}",
        "agree": agree,
        "exit_code": int(code),
        "aliases": [s.as_dict() for s in statuses],
    }


def run(command: StatusCommand, kube: KubeClients, pool: Registries) -> ExitCode:
    """Print the status of every target; 0 when all agree, else 14. With one target the
    document is the Application's own (schema_version 1); with several, ``applications[]``."""
    from pipeline.commands.running import interrupt_code, interrupted, run_interruptibly

    documents: list[dict[str, Any]] = []
    try:
        for target in command.targets:
            documents.append(run_interruptibly(partial(_document, target, command, kube, pool)))
    except KeyboardInterrupt as interrupt:
        _print(documents, command.output, False, interrupt_code(interrupt), stopped=True)
        done = f"status of {len(documents)} of {len(command.targets)} Application(s) printed"
        raise interrupted(interrupt, done) from None
    agree = all(d["agree"] for d in documents)
    code = ExitCode.OK if agree else ExitCode.MISMATCH
    _print(documents, command.output, agree, code)
    return code


def _print(documents: list[dict[str, Any]], output: str, agree: bool, code: int,
           stopped: bool = False) -> None:  # fmt: skip
    if output == "json":
        if len(documents) == 1 and not stopped:
            click.echo(json.dumps(documents[0], indent=2))
        else:
            combined = {"schema_version": 1, "agree": agree, "exit_code": int(code),
                        "interrupted": stopped, "applications": documents}  # fmt: skip
            click.echo(json.dumps(combined, indent=2))
    elif documents:
        click.echo("\n".join(render_text(d) for d in documents))
