"""Typed, frozen settings for `deploy-canary`, merged from flags, environment and pipeline.yaml.

Precedence (highest first): command-line flag, ``PIPELINE_*`` environment variable (click's
``auto_envvar_prefix``), the ``pipeline.yaml`` entry of the service, the top level of
``pipeline.yaml``, then the built-in default. Building settings does no I/O: the CLI reads the
config file and passes the parsed mapping in (kopf ``_cogs/configs/configuration.py`` habit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError

DEFAULT_TAG = "{service}-dev-canary"
DEFAULT_ALIAS = "canary"  # the image-list alias read when no image repository is configured
DEFAULT_TRACE_TAG = "{service}-dev-canary-{short_sha}"
DEFAULT_APP = "dev-api-{service}"
DEFAULT_NAMESPACE = "{service}"
DEFAULT_SELECTOR = "app={service}-api,version=v2"
PIN_METHODS = ("auto", "kustomize-patch", "kustomize-image", "helm")


@dataclass(frozen=True)
class ServiceTarget:
    """Where one service's canary goes. Every text may contain ``{service}``.

    ``image`` empty means "from the Application": the repository (and, unless ``tag`` is set,
    the tag) of the image-updater ``alias`` in its ``image-list`` (pipeline/core/alias.py).
    """

    name: str
    image: str = ""  # repository without tag, e.g. 127.0.0.1:5000/demo; "" = from the alias
    tag: str = ""  # the moving canary tag; "" = the alias's tag, else DEFAULT_TAG
    app: str = DEFAULT_APP  # Argo CD Application name
    namespace: str = DEFAULT_NAMESPACE  # namespace of the canary Deployment
    selector: str = DEFAULT_SELECTOR  # label selector of the canary pods/Deployment
    context: Path = Path(".")  # docker build context
    dockerfile: str = "Dockerfile"  # relative to the context
    container: str | None = None  # container to pin; None = the one running our repository
    alias: str | None = None  # image-list alias; None = DEFAULT_ALIAS for the image, and for
    # the write-back settings the image-list entry whose repository is ours


@dataclass(frozen=True)
class BuildSettings:
    """How images are produced; ``no_build`` + ``digest`` deploy an image pushed elsewhere."""

    no_build: bool = False
    digest: str | None = None
    revision: str = ""  # git SHA of the PR head (org.opencontainers.image.revision)
    source: str = ""  # repository URL (org.opencontainers.image.source)
    pr: str = ""  # pull request number, also written into the sync info marker
    platforms: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RunSettings:
    """How the run behaves once the image exists."""

    argocd_namespace: str = "argocd"
    timeout: float = 300.0  # seconds for the whole run of one service
    dry_run: bool = False
    terminate_running: bool = False  # terminate another in-progress Argo CD operation
    pin_method: str = "auto"
    crashloop_restarts: int = 2  # restarts tolerated before CrashLoopBackOff is terminal
    settle: float = 1.0  # seconds every replica must stay ready with our digest
    require_render: bool = False  # a source that cannot be rendered here refuses the run
    run_id: str = "local"
    started_ns: int = 0  # run start (UTC ns), orders concurrent runs on one canary


@dataclass(frozen=True)
class DeploySettings:
    services: tuple[ServiceTarget, ...]
    build: BuildSettings = field(default_factory=BuildSettings)
    run: RunSettings = field(default_factory=RunSettings)


_TARGET_KEYS = {f.name for f in fields(ServiceTarget)} | {"file"}


def _service_entries(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for item in config.get("services") or []:
        if isinstance(item, str):
            entries[item] = {}
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            unknown = set(item) - _TARGET_KEYS
            if unknown:
                raise UsageError(
                    f"pipeline.yaml: unknown key(s) {sorted(unknown)} in service {item['name']!r}",
                    hint=f"allowed keys: {sorted(_TARGET_KEYS)}",
                )
            entries[item["name"]] = dict(item)
        else:
            raise UsageError(
                f"pipeline.yaml: bad services entry {item!r}",
                hint="each entry is a service name or a mapping with at least 'name'",
            )
    return entries


def build_targets(
    names: tuple[str, ...],
    flags: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    image_from_application: bool = False,
) -> tuple[ServiceTarget, ...]:
    """One ServiceTarget per service; ``flags`` holds only values the user set explicitly.

    ``names`` empty means every service listed in pipeline.yaml. Without an image repository
    the target is refused unless ``image_from_application`` (deploy-canary reads it from the
    Application's image-updater annotations).
    """
    entries = _service_entries(config)
    chosen = names or tuple(entries)
    if not chosen:
        raise UsageError(
            "no service given",
            hint="pass --service NAME (repeatable), set PIPELINE_SERVICE, or list services "
            "in pipeline.yaml",
        )
    targets = []
    for name in chosen:
        merged: dict[str, Any] = {}
        for source in (config, entries.get(name, {}), flags):
            for key in _TARGET_KEYS - {"name"}:
                if source.get(key) is not None:
                    merged["dockerfile" if key == "file" else key] = source[key]
        if not merged.get("image") and not image_from_application:
            raise UsageError(
                f"no image repository for service {name!r}",
                hint="pass --image REGISTRY/REPO or set 'image:' in pipeline.yaml",
            )
        if "context" in merged:
            merged["context"] = Path(merged["context"])
        targets.append(ServiceTarget(name=name, **merged))
    return tuple(targets)


def with_run(settings: DeploySettings, **changes: Any) -> DeploySettings:
    return replace(settings, run=replace(settings.run, **changes))


@dataclass(frozen=True)
class ArgoApiSettings:
    """How to reach the Argo CD API server, as the argocd CLI takes it (docs/backends.md)."""

    server: str | None = None  # host:port or a URL (--argocd-server, ARGOCD_SERVER)
    auth_token: str | None = field(default=None, repr=False)  # --auth-token, ARGOCD_AUTH_TOKEN
    insecure: bool = False  # skip TLS verification
    plaintext: bool = False  # plain HTTP
    grpc_web_root_path: str | None = None  # Argo CD served below a path
    ca_file: str | None = None  # the server's CA certificate(s), PEM
    context: str | None = None  # a context of the argocd CLI's config file
    config_path: str | None = None  # that file [default: the argocd CLI's own]
    server_on_command_line: bool = False  # --argocd-server typed: the API backend


BACKENDS = ("auto", "kubernetes", "argocd-api")


@dataclass(frozen=True)
class KubeSettings:
    """Which cluster: a kubeconfig (``None``: $KUBECONFIG, ~/.kube/config, in-cluster), or the
    Argo CD API server (``argocd``); ``backend`` chooses, ``auto`` as docs/backends.md says."""

    kubeconfig: str | None = None
    context: str | None = None
    backend: str = "auto"
    argocd: ArgoApiSettings = field(default_factory=ArgoApiSettings)


@dataclass(frozen=True)
class RegistrySettings:
    """How registries are reached when reading digests and tags."""

    ca_bundle: str | None = None  # CA bundle for registries with a private CA
    insecure: tuple[str, ...] = ()  # hosts allowed over plain HTTP
    rates: tuple[str, ...] = ()  # HOST=RPS pacing (poll, status)
