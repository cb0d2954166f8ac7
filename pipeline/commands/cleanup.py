"""`pipeline cleanup-canary`: remove our pin from the Applications of a PR's services.

Targets are resolved exactly as for deploy-canary (flags > ``PIPELINE_*`` > pipeline.yaml >
defaults), so the same pipeline.yaml drives both. Without ``--service`` every service listed in
pipeline.yaml is cleaned: cleanup is idempotent and cheap for a service that was never pinned.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from pipeline.commands.deploy import TARGET_OPTIONS, github_defaults, load_config
from pipeline.core.settings import BuildSettings, DeploySettings, RunSettings, build_targets
from pipeline.errors import ExitCode, PipelineError


def _opt(*decls: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    name = decls[0].lstrip("-").replace("-", "_").upper()
    kwargs.setdefault("envvar", f"PIPELINE_{name}")
    kwargs.setdefault("show_envvar", True)
    return click.option(*decls, **kwargs)


def _settings(ctx: click.Context, p: dict[str, Any]) -> DeploySettings:
    config = load_config(p["config"])
    explicit = (click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
    flags = {
        k: p[k]
        for k in TARGET_OPTIONS
        if k in p and p[k] is not None and ctx.get_parameter_source(k) in explicit
    }
    targets = build_targets(tuple(p["service"]), flags, config, image_from_application=True)
    gh = github_defaults(dict(os.environ))
    timeout = (
        p["timeout"]
        if ctx.get_parameter_source("timeout") in explicit
        else config.get("timeout", p["timeout"])
    )
    return DeploySettings(
        services=targets,
        build=BuildSettings(pr=p["pr"] or gh["pr"]),
        run=RunSettings(
            argocd_namespace=p["argocd_namespace"]
            if ctx.get_parameter_source("argocd_namespace") in explicit
            else str(config.get("argocd_namespace", p["argocd_namespace"])),
            timeout=float(timeout),
            run_id="cleanup-" + (p["run_id"] or gh["run_id"] or uuid.uuid4().hex[:12]),
            started_ns=time.time_ns(),
        ),
    )


@click.command("cleanup-canary")
@_opt("--service", "-s", multiple=True, help="Service to clean (repeatable) [default: all].")
@_opt("--pr", default="", help="Only remove a pin this PR made [default: from $GITHUB_REF].")
@_opt("--image", help="Repository without tag (as for deploy-canary).")
@_opt("--tag", help="Canary tag template (as for deploy-canary).")
@_opt("--alias", help="image-updater alias to read image and tag from [default: canary].")
@_opt("--app", help="Argo CD Application template [default: dev-api-{service}].")
@_opt("--argocd-namespace", default="argocd", show_default=True)
@_opt("--namespace", help="Canary namespace template [default: {service}].")
@_opt("--selector", help="Canary pod label selector [default: app={service}-api,version=v2].")
@_opt("--timeout", type=float, default=300.0, show_default=True, help="Seconds per service.")
@_opt("--output", "-o", type=click.Choice(["text", "json", "github"]), default="text")
@_opt("--run-id", default="", help="Names this run in the sync marker [default: GitHub run].")
@_opt("--config", type=click.Path(path_type=Path, dir_okay=False), help="pipeline.yaml path.")
@_opt("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig [env: KUBECONFIG].")
@_opt("--kube-context", help="Kubeconfig context to use.")
@click.pass_context
def cleanup_canary(ctx: click.Context, /, **params: Any) -> None:
    """Remove the canary pin, restore what it replaced, sync and confirm (idempotent)."""
    from pipeline.adapters.argocd import ArgoApplications
    from pipeline.adapters.kube import KubeCluster, connect
    from pipeline.cleanup.report import document, write_github
    from pipeline.cleanup.run import cleanup_service
    from pipeline.core.alias import resolve_target
    from pipeline.core.plan import plan_all
    from pipeline.report.text import TextReporter

    settings = _settings(ctx, params)
    api = connect(params["kubeconfig"], params["kube_context"])
    apps, cluster = ArgoApplications(api), KubeCluster(api)
    # like deploy-canary: without --image, the image and tag come from the alias's annotations
    targets = tuple(resolve_target(t, settings, apps) for t in settings.services)
    plans = plan_all(replace(settings, services=targets))
    progress = TextReporter(sys.stderr if params["output"] == "json" else sys.stdout)
    results = [
        cleanup_service(plan, apps, cluster, pr=settings.build.pr, emit=progress.emit)
        for plan in plans
    ]
    code = max((r.exit_code for r in results), default=int(ExitCode.OK))
    doc = document(results, code, settings.build.pr)
    if params["output"] == "json":
        click.echo(json.dumps(doc, indent=2))
    else:
        for r in results:
            click.echo(f"[{r.service}] {r.result}: {r.message or r.reason}")
    if params["output"] == "github":
        env = os.environ
        write_github(
            results, code, settings.build.pr,
            Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
        )  # fmt: skip
        for r in results:
            if r.result == "failed":
                click.echo(f"::error title=cleanup-canary {r.service} ({r.reason})::{r.message}")
    ctx.exit(code)


__all__ = ["PipelineError", "cleanup_canary"]
