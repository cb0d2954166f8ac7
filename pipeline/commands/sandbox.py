"""`pipeline sandbox up|down|status|sample`: the local control plane for demos and tests."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.errors import UsageError

if TYPE_CHECKING:
    from pipeline.sandbox.sample import SampleRepo
    from pipeline.sandbox.state import SandboxStatus

# what only the sandbox imports: pyproject.toml's `sandbox` extra (tests/unit/test_dependencies.py)
SANDBOX_EXTRA = ("bcrypt", "cryptography")

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PIPELINE_SANDBOX_DIR",
    default=None,
    help="Where the sandbox keeps its state [env: PIPELINE_SANDBOX_DIR; "
    "default: $XDG_STATE_HOME/pipeline/sandbox].",
)
output_option = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)


@click.group()
def sandbox() -> None:
    """A local Kubernetes API server with Argo CD, a Deployment controller and a kubelet."""
    require_sandbox_extra()


def require_sandbox_extra() -> None:
    """Exit 2 naming the extra to install when the sandbox's own libraries are missing."""
    missing = []
    for name in SANDBOX_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise UsageError(
            f"pipeline sandbox needs {', '.join(missing)}, from the 'sandbox' extra",
            hint="pip install 'argocd-canary[sandbox]' (scripts/setup installs it)",
        )


def _print_status(status: SandboxStatus, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(status.as_dict(), indent=2))
        return
    if not status.running:
        click.echo(f"sandbox: not running (state dir {status.state_dir})")
        return
    click.echo(f"sandbox: running (pid {status.pid}, state dir {status.state_dir})")
    click.echo(f"  server:      {status.server}")
    click.echo(f"  https:       {status.secure_server} (bearer tokens and RBAC apply)")
    click.echo(f"  https CA:    {status.certificate_authority}")
    click.echo(f"  kubeconfig:  {status.kubeconfig}")
    click.echo(f"  registry:    {status.registry}")
    click.echo(f"  docker host: {status.docker_host or '(none: images are resolved, not run)'}")
    if status.argocd_server:
        click.echo(f"  argocd api:  {status.argocd_server} (https: {status.argocd_secure_server})")
    if status.argocd_token:
        click.echo(f"  argocd token (admin): {status.argocd_token}")
    from pipeline.sandbox.children import describe

    for line in describe(status.children):
        click.echo(f"  {line}")
    click.echo(f"\n  export KUBECONFIG={status.kubeconfig}")


@sandbox.command()
@state_dir_option
@output_option
@click.option("--registry", help="Use this registry (host:port) instead of starting one.")
@click.option("--docker-host", help="Use this Docker Engine instead of finding or starting one.")
@click.option(
    "--docker/--no-docker",
    default=True,
    help="Run containers in Docker (default), or only resolve images in the registry.",
)
@click.option(
    "--registry-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A CA bundle the kubelet trusts for TLS registries (kept for restarts).",
)
@click.option(
    "--kubelet-backoff",
    type=float,
    default=None,
    help="Initial restart back-off in seconds (real kubelet: 10).",
)
@click.option(
    "--max-pods",
    type=int,
    default=None,
    help="Pods the sandbox's own node accepts (kubelet --max-pods; real default 110).",
)
@click.option(
    "--watch-window",
    type=float,
    default=None,
    help="Seconds a resourceVersion stays watchable before 410 Expired (real: etcd compaction, "
    "5 minutes).",
)
def up(
    state_dir: Path | None,
    output: str,
    registry: str | None,
    docker_host: str | None,
    docker: bool,
    kubelet_backoff: float | None,
    registry_ca: Path | None,
    watch_window: float | None,
    max_pods: int | None,
) -> None:
    """Start the sandbox in the background (no-op when it already runs)."""
    from pipeline.sandbox import supervisor

    state = supervisor.resolve_state_dir(state_dir)
    status = supervisor.up(
        state,
        registry=registry,
        docker_host=docker_host,
        docker=docker,
        kubelet_backoff=kubelet_backoff,
        registry_ca=registry_ca,
        watch_window=watch_window,
        max_pods=max_pods,
    )
    _print_status(status, output)


@sandbox.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the sandbox and everything it started."""
    from pipeline.sandbox import supervisor

    state = supervisor.resolve_state_dir(state_dir)
    stopped = supervisor.down(state)
    click.echo("sandbox: stopped" if stopped else "sandbox: was not running")


@sandbox.command()
@state_dir_option
@output_option
def status(state_dir: Path | None, output: str) -> None:
    """Show whether the sandbox runs and how to reach it (with an Argo CD admin token)."""
    from pipeline.sandbox import supervisor

    current = supervisor.status(supervisor.resolve_state_dir(state_dir))
    if current.running and current.server and current.argocd_server:
        from pipeline.sandbox.argocdapi import client
        from pipeline.sandbox.kubeclient import ApiError, KubeClient

        kube = KubeClient(current.server, user_agent="pipeline-sandbox")
        try:
            current.argocd_token = client.admin_token(kube, current.argocd_server)
        except (client.TokenRequestError, ApiError) as e:
            click.echo(f"warning: no Argo CD admin token: {e}", err=True)
    _print_status(current, output)


TOKEN_ACTIONS = "get,update,sync,logs:get,applicationsets:get"  # what the pipeline calls


@sandbox.command()
@state_dir_option
@output_option
@click.option("--account", help="A local account with the apiKey capability (e.g. ci).")
@click.option("--project", help="An AppProject: print a project role token.")
@click.option("--role", default="ci", show_default=True, help="The project role (with --project).")
@click.option(
    "--actions",
    default=TOKEN_ACTIONS,
    show_default=True,
    help="With --project: what a role created now may do on <project>/* (applications, or "
    "RESOURCE:ACTION).",
)
@click.option("--expires-in", type=int, default=0, help="Seconds until it expires (0: never).")
def token(
    state_dir: Path | None,
    output: str,
    account: str | None,
    project: str | None,
    role: str,
    actions: str,
    expires_in: int,
) -> None:
    """Print an Argo CD API token: admin (default), an account's, or a project role's.

    With --project the AppProject and its role are created first when missing (a sandbox
    convenience: like argocd proj create / proj role create / proj role add-policy).
    """
    from pipeline.errors import SandboxError, UsageError
    from pipeline.sandbox import supervisor

    if account and project:
        raise UsageError("--account and --project are exclusive", hint="choose one")
    current = supervisor.status(supervisor.resolve_state_dir(state_dir))
    if not current.running or not current.server or not current.argocd_server:
        raise SandboxError("the sandbox is not running", hint="run: pipeline sandbox up")
    server = current.argocd_server
    value, subject = _issue_token(current, account, project, role, actions, expires_in)
    if output == "json":
        click.echo(json.dumps({"server": server, "subject": subject, "token": value}, indent=2))
    else:
        click.echo(value)


@sandbox.command()
@state_dir_option
@output_option
@click.option(
    "--shared-name-override",
    is_flag=True,
    help="Give the dev overlay the common mistake: an images entry keyed on the shared "
    "repository name, which rewrites the canary's tag too.",
)
def sample(state_dir: Path | None, output: str, shared_name_override: bool) -> None:
    """Create the sample GitOps repo and Application, push its images, wait until it runs."""
    from pipeline.errors import SandboxError
    from pipeline.sandbox import supervisor
    from pipeline.sandbox.kubeclient import KubeClient
    from pipeline.sandbox.seed import seed_sample

    state = supervisor.resolve_state_dir(state_dir)
    current = supervisor.status(state)
    if not current.running or current.server is None or current.registry is None:
        raise SandboxError(
            f"the sandbox is not running (state dir {state.path})",
            hint="run: pipeline sandbox up",
        )
    work_dir = state.path / "gitops"
    shutil.rmtree(work_dir, ignore_errors=True)  # a fresh sample each time: the demo can rerun
    seeded = seed_sample(
        KubeClient(current.server, user_agent="pipeline-sample"),
        work_dir,
        registry=current.registry,
        docker_host=current.docker_host,
        shared_name_override=shared_name_override,
    )
    repo = seeded.repo
    config_file = write_sample_config(state.path / "pipeline.yaml", repo)
    images = {"stable": repo.stable_image, "canary": repo.canary_image}
    result = {
        "repository": str(repo.path),
        "application": repo.app_name,
        "namespace": repo.namespace,
        "images": images,
        "digests": seeded.digests,
        "selectors": repo.selectors,
        "config": str(config_file),
    }
    if output == "json":
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"sample: {repo.app_name} synced from {repo.path}; stable and canary running")
    for role in ("stable", "canary"):
        click.echo(f"  {role}: {images[role]} = {seeded.digests[role]}")
    click.echo(f"\n  pipeline deploy-canary --config {config_file}")
    click.echo(
        f"  kubectl get pod -n {repo.namespace} -l {repo.selectors['canary']} "
        "-o jsonpath='{.items[0].status.containerStatuses[0].imageID}'"
    )


def write_sample_config(path: Path, repo: SampleRepo) -> Path:
    """A pipeline.yaml that deploys the sample's canary (docs/deploy-canary.md)."""
    import yaml

    service = repo.namespace
    config = {
        "image": repo.image_repository,
        "tag": "{service}-api-dev-canary",
        "app": "dev-api-{service}",
        "namespace": "{service}",
        "selector": "app={service}-api,version=v2",
        "services": [{"name": service, "context": str(repo.context_dir)}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@sandbox.command("load-image")
@state_dir_option
@click.argument("image")
@click.option(
    "--from-docker-host",
    help="The Docker Engine that has IMAGE [default: DOCKER_HOST, then the default socket].",
)
def load_image(state_dir: Path | None, image: str, from_docker_host: str | None) -> None:
    """Load IMAGE into the sandbox node's runtime, without a registry (like kind load).

    Pods whose image is IMAGE, as written, and whose imagePullPolicy is not Always (set
    IfNotPresent, or use a tag other than latest) run it and report imageID sha256:<config
    digest>.
    """
    from pipeline.errors import SandboxError
    from pipeline.sandbox import supervisor
    from pipeline.sandbox.controllers.loadedimages import (
        LOADED_IMAGES_FILE,
        LoadedImages,
        LoadError,
    )
    from pipeline.sandbox.controllers.loadedimages import load_image as copy_image

    state = supervisor.resolve_state_dir(state_dir)
    current = supervisor.status(state)
    if not current.running or not current.docker_host:
        raise SandboxError(
            f"the sandbox is not running with a Docker Engine (state dir {state.path})",
            hint="run: pipeline sandbox up",
        )
    try:
        image_id = copy_image(image, from_docker_host, current.docker_host)
    except LoadError as e:
        raise SandboxError(f"cannot load {image}: {e}", hint="docker pull or build it") from e
    LoadedImages(state.path / LOADED_IMAGES_FILE).record(image, image_id)
    click.echo(f"loaded {image} ({image_id}) into the sandbox node")


def _issue_token(
    current: Any, account: str | None, project: str | None, role: str, actions: str,
    expires_in: int,
) -> tuple[str, str]:  # fmt: skip
    """(token, subject): admin's, an account's, or a project role's (created when missing)."""
    from pipeline.errors import SandboxError
    from pipeline.sandbox.argocdapi import client
    from pipeline.sandbox.kubeclient import KubeClient

    kube = KubeClient(current.server, user_agent="pipeline-sandbox")
    server = current.argocd_server
    try:
        admin = client.admin_token(kube, server)
        if account:
            return client.account_token(server, admin, account, expires_in), account
        if project:
            wanted = [a.strip() for a in actions.split(",") if a.strip()]
            client.ensure_project_role(kube, project, role, wanted)
            return client.project_token(server, admin, project, role, expires_in), (
                f"proj:{project}:{role}"
            )
        return admin, "admin"
    except client.TokenRequestError as e:
        raise SandboxError(
            f"the Argo CD API server refused: {e}", hint="see docs/sandbox-argocd-api.md"
        ) from e


@sandbox.command()
@state_dir_option
@click.option(
    "--argocd-api",
    is_flag=True,
    help="Exports for the Argo CD API backend instead of a kubeconfig: ARGOCD_SERVER and a "
    "project role token of project default (what a CI holds); KUBECONFIG unset.",
)
def env(state_dir: Path | None, argocd_api: bool) -> None:
    """Print shell exports for the running sandbox: eval "$(pipeline sandbox env)"."""
    from shlex import quote

    from pipeline.errors import SandboxError
    from pipeline.sandbox import supervisor

    state = supervisor.resolve_state_dir(state_dir)
    current = supervisor.status(state)
    if not current.running:
        raise SandboxError(
            f"the sandbox is not running (state dir {state.path})", hint="run: pipeline sandbox up"
        )
    if argocd_api and current.argocd_server:
        token, _ = _issue_token(current, None, "default", "ci", TOKEN_ACTIONS, 0)
        click.echo("unset KUBECONFIG")
        click.echo(f"export ARGOCD_SERVER={quote(current.argocd_server)}")
        click.echo(f"export ARGOCD_AUTH_TOKEN={quote(token)}")
    else:
        click.echo(f"export KUBECONFIG={quote(str(current.kubeconfig))}")
    if current.docker_host:
        click.echo(f"export DOCKER_HOST={quote(current.docker_host)}")
