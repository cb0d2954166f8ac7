"""`pipeline deploy-canary`: parse flags, environment and pipeline.yaml; run the core; report.

Every option reads ``PIPELINE_<OPTION>`` (e.g. ``PIPELINE_SERVICE="auth users"``: repeatable
options split on whitespace, click's rule for ``multiple=True``). Precedence: flag, env,
pipeline.yaml (the service's entry, then the top level), built-in default.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from pipeline.core.settings import (
    PIN_METHODS,
    BuildSettings,
    DeploySettings,
    RunSettings,
    build_targets,
)
from pipeline.errors import ExitCode, PipelineError, UsageError

TARGET_OPTIONS = (
    "image", "tag", "app", "namespace", "selector", "context", "file", "container", "alias",
)  # fmt: skip
RUN_OPTIONS = ("argocd_namespace", "timeout", "pin_method", "crashloop_restarts", "settle")


def _opt(*decls: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    name = decls[0].lstrip("-").replace("-", "_").upper()
    kwargs.setdefault("envvar", f"PIPELINE_{name}")
    kwargs.setdefault("show_envvar", True)
    return click.option(*decls, **kwargs)


def github_defaults(env: dict[str, str]) -> dict[str, str]:
    """Revision, PR number, source URL and run id from GitHub Actions' default variables."""
    ref = env.get("GITHUB_REF", "")
    pr = ref.split("/")[2] if ref.startswith("refs/pull/") else ""
    source = ""
    if env.get("GITHUB_REPOSITORY"):
        source = f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}"
    run_id = ""
    if env.get("GITHUB_RUN_ID"):
        run_id = f"gh-{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    return {"revision": env.get("GITHUB_SHA", ""), "pr": pr, "source": source, "run_id": run_id}


def load_config(path: Path | None) -> dict[str, Any]:
    """pipeline.yaml as a mapping; the only file this command reads for settings."""
    import yaml

    if path is None:
        default = Path("pipeline.yaml")
        if not default.is_file():
            return {}
        path = default
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"cannot read config file {path}: {e}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UsageError(f"config file {path} is not a mapping")
    return {k.replace("-", "_"): v for k, v in loaded.items()}


def _explicit(ctx: click.Context, name: str, value: Any) -> bool:
    source = ctx.get_parameter_source(name)
    return value is not None and source in (
        ParameterSource.COMMANDLINE,
        ParameterSource.ENVIRONMENT,
    )


def _build_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"--build-arg {text!r} is not KEY=VALUE")
    return key, value


# pipeline.yaml sections other commands read: detect-changes and render (docs/adoption.md)
OTHER_COMMANDS_KEYS = frozenset(("paths", "ci"))
CONFIG_KEYS = frozenset((*TARGET_OPTIONS, *RUN_OPTIONS, "services", *OTHER_COMMANDS_KEYS))


def build_settings(ctx: click.Context, p: dict[str, Any], env: dict[str, str]) -> DeploySettings:
    config = load_config(p["config"])
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise UsageError(
            f"pipeline.yaml: unknown key(s) {unknown}",
            hint=f"allowed keys: {sorted(CONFIG_KEYS)} (docs/deploy-canary.md, Configuration)",
        )
    flags = {k: p[k] for k in TARGET_OPTIONS if _explicit(ctx, k, p[k])}
    targets = build_targets(tuple(p["service"]), flags, config, image_from_application=True)
    gh = github_defaults(env)
    run_values = {
        k: (p[k] if _explicit(ctx, k, p[k]) else config.get(k, p[k])) for k in RUN_OPTIONS
    }
    if run_values["pin_method"] not in PIN_METHODS:
        raise UsageError(f"pin_method must be one of {', '.join(PIN_METHODS)}")
    if p["digest"] and not p["no_build"]:
        raise UsageError("--digest needs --no-build", hint="or drop --digest to build")
    return DeploySettings(
        services=targets,
        build=BuildSettings(
            no_build=p["no_build"],
            digest=p["digest"],
            revision=p["revision"] or gh["revision"],
            source=p["source"] or gh["source"],
            pr=p["pr"] or gh["pr"],
            platforms=tuple(p["platform"]),
            cache_from=tuple(p["cache_from"]),
            cache_to=(p["cache_to"],) if p["cache_to"] else (),
            build_args=tuple(_build_arg(a) for a in p["build_arg"]),
        ),
        run=RunSettings(
            argocd_namespace=str(run_values["argocd_namespace"]),
            timeout=float(run_values["timeout"]),
            dry_run=p["dry_run"],
            terminate_running=p["terminate_running"],
            pin_method=str(run_values["pin_method"]),
            crashloop_restarts=int(run_values["crashloop_restarts"]),
            settle=float(run_values["settle"]),
            run_id=p["run_id"] or gh["run_id"] or uuid.uuid4().hex[:12],
            started_ns=time.time_ns(),
        ),
    )


@click.command("deploy-canary")
@_opt("--service", "-s", multiple=True, help="Service to deploy (repeatable).")
@_opt("--image", help="Repository without tag [default: the alias's, from the Application].")
@_opt("--tag", help="Canary tag template [default: the alias's tag, else {service}-dev-canary].")
@_opt("--alias", help="argocd-image-updater image-list alias to read [default: canary].")
@_opt("--context", type=click.Path(path_type=Path), help="Build context directory.")
@_opt("--file", "-f", help="Dockerfile, relative to the context [default: Dockerfile].")
@_opt("--app", help="Argo CD Application template [default: dev-api-{service}].")
@_opt("--argocd-namespace", default="argocd", show_default=True)
@_opt("--namespace", help="Canary namespace template [default: {service}].")
@_opt("--selector", help="Canary pod label selector [default: app={service}-api,version=v2].")
@_opt("--container", help="Container to pin when the pod has several.")
@_opt("--timeout", type=float, default=300.0, show_default=True, help="Seconds after the push.")
@_opt("--output", "-o", type=click.Choice(["text", "json", "github"]), default="text")
@_opt("--dry-run", is_flag=True, help="Print the plan; write nothing (no build, no push).")
@_opt("--no-build", is_flag=True, help="Deploy an image pushed elsewhere (needs --digest).")
@_opt("--digest", help="sha256:... of the image pushed elsewhere.")
@_opt("--revision", default="", help="Git SHA built [default: $GITHUB_SHA].")
@_opt("--source", default="", help="Source repository URL [default: from $GITHUB_REPOSITORY].")
@_opt("--pr", default="", help="Pull request number [default: from $GITHUB_REF].")
@_opt("--platform", multiple=True, help="Target platform (repeatable; buildx only).")
@_opt("--cache-from", multiple=True, help="Build cache source (repeatable).")
@_opt("--cache-to", help="Build cache destination (buildx only).")
@_opt("--build-arg", multiple=True, help="KEY=VALUE passed to the build (repeatable).")
@_opt("--terminate-running", is_flag=True, help="Terminate an Argo CD operation in progress.")
@_opt("--pin-method", default="auto", show_default=True, type=click.Choice(PIN_METHODS))
@_opt("--crashloop-restarts", type=int, default=2, show_default=True)
@_opt("--settle", type=float, default=1.0, show_default=True, help="Seconds pods must stay ready.")
@_opt("--run-id", default="", help="Names this run in the sync marker [default: GitHub run].")
@_opt("--config", type=click.Path(path_type=Path, dir_okay=False), help="pipeline.yaml path.")
@_opt("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig [env: KUBECONFIG].")
@_opt("--kube-context", help="Kubeconfig context to use.")
@_opt("--registry-ca", type=click.Path(path_type=Path, dir_okay=False), help="CA bundle.")
@_opt("--insecure-registry", multiple=True, help="Registry host allowed over plain HTTP.")
@click.pass_context
def deploy_canary(ctx: click.Context, /, **params: Any) -> None:
    """Build, push, pin, sync and verify a canary image (docs/deploy-canary.md)."""
    from pipeline.deploy.orchestrate import deploy_all, worst_exit_code
    from pipeline.report import make_reporter

    env = dict(os.environ)
    reporter = make_reporter(params["output"], sys.stdout, sys.stderr, env)
    try:
        settings = build_settings(ctx, params, env)
        check_offline(settings)
        deps = _dependencies(params, settings)
    except PipelineError as e:
        from pipeline.core.events import ServiceResult

        result = ServiceResult(
            service=",".join(params["service"]), reason=e.reason, exit_code=int(e.exit_code),
            message=e.message, hint=e.hint,
        )  # fmt: skip
        reporter.finish([result], int(e.exit_code))
        if params["output"] != "json":
            raise
        ctx.exit(int(e.exit_code))
    results = deploy_all(settings, deps, reporter.emit)
    code = worst_exit_code(results)
    reporter.finish(results, code, request_counts(deps))
    ctx.exit(code)


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


def request_counts(deps: Any) -> dict[str, dict[str, int]]:
    """Requests this run sent, by method: the JSON report's ``requests`` (docs/json-schema.md)."""
    registry = getattr(deps.registry, "stats", None)
    kube = getattr(deps.cluster, "stats", None)
    return {
        "registry": {
            f"{method} {kind}": n for (method, kind), n in sorted(registry.requests.items())
        }
        if registry is not None
        else {},
        "kubernetes": dict(sorted(kube.by_verb.items())) if kube is not None else {},
    }


def _dependencies(params: dict[str, Any], settings: DeploySettings) -> Any:
    from pipeline.adapters.argocd import ArgoApplications
    from pipeline.adapters.builder import PrebuiltImage, select_builder
    from pipeline.adapters.credentials import DockerConfigCredentials
    from pipeline.adapters.kube import KubeCluster, RequestStats, connect
    from pipeline.adapters.pullsecrets import ApplicationPullSecrets, chain
    from pipeline.adapters.registry import RegistryClient
    from pipeline.adapters.sources import default_cache_dir, make_render
    from pipeline.core.plan import application_name
    from pipeline.core.ports import Dependencies

    api = connect(params["kubeconfig"], params["kube_context"])
    stats = RequestStats()
    applications = ArgoApplications(api, stats)
    cluster = KubeCluster(api, stats)
    docker_config = DockerConfigCredentials()
    names = [application_name(t, settings) for t in settings.services]
    pull_secrets = ApplicationPullSecrets(applications, cluster.get_secret, names)
    # the registry client asks only after a 401; the push (Docker) uses the Docker config
    registry = RegistryClient(
        credentials=chain(docker_config, pull_secrets),
        ca_bundle=str(params["registry_ca"]) if params["registry_ca"] else None,
        insecure=tuple(params["insecure_registry"]),
    )
    digest = settings.build.digest

    def builder() -> Any:
        if settings.build.no_build and digest:
            return PrebuiltImage(digest)
        return select_builder(os.environ.get("DOCKER_HOST"), credentials=docker_config)

    return Dependencies(
        applications=applications,
        cluster=cluster,
        registry=registry,
        builder=builder,
        render=make_render(default_cache_dir(os.environ)),
    )


__all__ = ["ExitCode", "deploy_canary"]
