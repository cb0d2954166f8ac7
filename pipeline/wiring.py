"""Build the adapters a command needs from its settings: the one place that does.

* ``connect_kube``: the Kubernetes-backed Applications and Cluster sharing one ApiClient and
  one request counter, after checking the kubeconfig (missing file, broken YAML, unknown
  context) so that every such problem is one clear ``KubeAccessError`` (exit 7);
* ``registry_client`` (deploy-canary's digest reader) and ``registry_pool`` (status, poll);
* ``builder_factory`` and ``renderer``; ``deploy_dependencies`` puts them together.

Commands import adapters only through this module.

Adapters are imported inside the functions: importing this module stays cheap, so
``pipeline --help`` does not load the Kubernetes client.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.settings import BuildSettings, DeploySettings, KubeSettings, RegistrySettings
from pipeline.errors import KubeAccessError, UsageError
from pipeline.kubeconfig import KUBECONFIG_HINT, check_kubeconfig, has_kubeconfig, kubeconfig_files

if TYPE_CHECKING:
    from pipeline.adapters.argocd import ArgoApplications
    from pipeline.adapters.bounded import RunDeadline
    from pipeline.adapters.kube import KubeCluster, RequestStats
    from pipeline.adapters.registry import RegistryClient
    from pipeline.adapters.registry_pool import RegistryPool
    from pipeline.core.build import Builder
    from pipeline.core.ports import AccessReview, CredentialLookup, Dependencies, Render, Sources
    from pipeline.core.repositories import RepoCredentials


@dataclass(frozen=True)
class KubeClients:
    """Applications and Cluster over one ApiClient; ``server`` and ``source`` for messages."""

    applications: ArgoApplications
    cluster: KubeCluster
    stats: RequestStats
    server: str  # the API server URL the kubeconfig names (or the Argo CD API server's)
    source: str  # the kubeconfig file(s), or "in-cluster"
    backend: str = "kubernetes"  # or "argocd-api" (ArgoApiClients)
    access: AccessReview | None = None  # None: Kubernetes access reviews

    def list_applications(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        from pipeline.adapters.kubereads import list_applications

        return list_applications(self.applications, namespace, selector)

    def repository_secrets(self, namespace: str) -> list[dict[str, Any]]:
        """Argo CD's repository and repo-creds Secrets; none when this identity may not list
        Secrets there (then only public repositories and PIPELINE_GIT_TOKEN work)."""
        from pipeline.adapters.kubereads import repository_secrets

        return repository_secrets(self.cluster, namespace)

    def namespace_exists(self, name: str) -> bool | None:
        """None when this identity may not read namespaces."""
        from pipeline.adapters.kubereads import namespace_exists

        return namespace_exists(self.cluster, name)


@dataclass(frozen=True)
class ArgoApiClients(KubeClients):
    """Applications and Cluster through the Argo CD API server (adapters/argocd_api*.py)."""

    def list_applications(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        apps: Any = self.applications
        return list(apps.list_applications(namespace, selector))

    def repository_secrets(self, namespace: str) -> list[dict[str, Any]]:
        return []  # the API shows no Secret values: PIPELINE_GIT_TOKEN or public repositories

    def namespace_exists(self, name: str) -> bool | None:
        return None


def backend_of(settings: KubeSettings, env: dict[str, str] | None = None) -> str:
    """``kubernetes`` or ``argocd-api``: ``--backend``, else auto (docs/backends.md): the API
    when --argocd-server is typed, or when an Argo CD server is configured (ARGOCD_SERVER,
    --argocd-context) and no kubeconfig is."""
    if settings.backend != "auto":
        return settings.backend
    argocd = settings.argocd
    if argocd.server_on_command_line:
        return "argocd-api"
    env = dict(os.environ) if env is None else env
    if (argocd.server or argocd.context) and not has_kubeconfig(settings, env):
        return "argocd-api"
    return "kubernetes"


def connect_kube(settings: KubeSettings, timeout: float | None = None) -> KubeClients:
    """The adapters of a command, Kubernetes or Argo CD API (``backend_of``), sharing one
    connection, request counter and deadline: ``timeout`` seconds from now bound every request
    (None: each request gets its own bound, adapters/kubefail.py REQUEST_TIMEOUT)."""
    if backend_of(settings) == "argocd-api":
        return connect_argocd_api(settings, timeout)
    from pipeline.adapters.argocd import ArgoApplications
    from pipeline.adapters.kube import KubeCluster, RequestStats, connect
    from pipeline.adapters.kubefail import Deadline

    check_kubeconfig(settings)
    try:
        api = connect(settings.kubeconfig, settings.context)
    except KubeAccessError:
        raise
    except Exception as e:  # the client's own parser found what check_kubeconfig did not
        raise KubeAccessError(
            f"no usable kubeconfig ({settings.kubeconfig or '$KUBECONFIG'}): "
            f"{type(e).__name__}: {e}",
            hint=KUBECONFIG_HINT,
            reason="kube-config",
        ) from None
    stats = RequestStats()
    deadline = Deadline()
    deadline.server = str(api.configuration.host)
    if timeout is not None:
        deadline.start(timeout)
    files = kubeconfig_files(settings)
    return KubeClients(
        applications=ArgoApplications(api, stats, deadline),
        cluster=KubeCluster(api, stats, deadline),
        stats=stats,
        server=str(api.configuration.host),
        source=", ".join(str(f) for f in files) if files else "~/.kube/config or in-cluster",
    )


def connect_argocd_api(settings: KubeSettings, timeout: float | None = None) -> ArgoApiClients:
    from pipeline.adapters.argocd_api import ArgoApiApplications
    from pipeline.adapters.argocd_api_access import ArgoApiAccessReview
    from pipeline.adapters.argocd_api_cluster import ArgoApiCluster
    from pipeline.adapters.argocd_http import ArgoCDConnection
    from pipeline.adapters.argocd_target import resolve
    from pipeline.adapters.kubefail import Deadline

    target = resolve(settings.argocd)
    deadline = Deadline()
    deadline.server = target.base_url
    if timeout is not None:
        deadline.start(timeout)
    conn = ArgoCDConnection(target, deadline)
    applications = ArgoApiApplications(conn)
    return ArgoApiClients(
        applications=applications,  # type: ignore[arg-type]
        cluster=ArgoApiCluster(applications),  # type: ignore[arg-type]
        stats=conn,  # type: ignore[arg-type]
        server=target.base_url,
        source="the Argo CD API (ARGOCD_SERVER / --argocd-server)",
        backend="argocd-api",
        access=ArgoApiAccessReview(applications),
    )


def check_ca_bundle(settings: RegistrySettings) -> None:
    """``--registry-ca`` names a readable file holding at least one PEM certificate; refused
    before anything connects, builds or pushes."""
    from pipeline.adapters.argocd_target import checked_pem_file

    if settings.ca_bundle:
        checked_pem_file(settings.ca_bundle, "--registry-ca", "the registry's CA certificate(s)")


def registry_client(
    settings: RegistrySettings,
    kube: KubeClients,
    applications: list[tuple[str, str]],
    docker_config: CredentialLookup | None = None,
) -> RegistryClient:
    """deploy-canary's digest reader: the Docker config first, then the pull secrets the
    Applications (namespace, name) name; asked only after a 401."""
    from pipeline.adapters.credentials import DockerConfigCredentials
    from pipeline.adapters.pullsecrets import ApplicationPullSecrets, chain
    from pipeline.adapters.registry import RegistryClient
    from pipeline.core.plan import ApplicationName

    check_ca_bundle(settings)
    names = [ApplicationName(ns, app) for ns, app in applications]
    pull_secrets = ApplicationPullSecrets(kube.applications, kube.cluster.get_secret, names)
    deadline = kube.cluster.deadline
    return RegistryClient(
        credentials=chain(docker_config or DockerConfigCredentials(), pull_secrets),
        ca_bundle=settings.ca_bundle,
        insecure=settings.insecure,
        deadline=deadline.at,
        clock=deadline.clock,
    )


def extend_deadline(deps: Dependencies, seconds: float) -> None:
    """deploy-canary's ``--timeout`` counts from the push: move the run's one deadline (the
    Kubernetes adapters' and the registry client's) to ``seconds`` from now."""
    cluster: Any = deps.cluster
    deadline = getattr(cluster, "deadline", None)
    if deadline is None or deadline.at is None:
        return
    deadline.extend_to(deadline.clock() + seconds)
    registry: Any = deps.registry
    if getattr(registry, "deadline", None) is not None:
        registry.deadline = deadline.at


def registry_pool(settings: RegistrySettings, kube: KubeClients) -> RegistryPool:
    """One registry client per credential reference, paced per host (status, poll)."""
    from pipeline.adapters.kubereads import read_secret
    from pipeline.adapters.ratelimit import parse_rates
    from pipeline.adapters.registry_pool import RegistryPool

    check_ca_bundle(settings)
    cluster = kube.cluster
    return RegistryPool(
        get_secret=lambda ns, name: read_secret(cluster, ns, name),
        ca_bundle=settings.ca_bundle,
        insecure=settings.insecure,
        rates=parse_rates(settings.rates),
    )


def builder_factory(
    build: BuildSettings, docker_host: str | None, docker_config: CredentialLookup | None = None
) -> Callable[[], Builder]:
    """The builder, chosen when the deploy needs it (a pushed --digest needs none); the push
    authenticates with the Docker config."""
    from pipeline.adapters.builder import PrebuiltImage, select_builder
    from pipeline.adapters.credentials import DockerConfigCredentials

    digest = build.digest
    credentials = docker_config or DockerConfigCredentials()

    def builder() -> Builder:
        if build.no_build and digest:
            return PrebuiltImage(digest)
        return select_builder(docker_host, credentials=credentials)

    return builder


def source_dirs(values: Sequence[str]) -> dict[str, Path]:
    """``--source-dir [REPO_URL=]DIR`` values as repoURL -> local clone. Without a URL, the
    clone's ``origin`` URL is the repository it stands for (docs/sources.md)."""
    import subprocess

    mapped: dict[str, Path] = {}
    for value in values:
        url, sep, directory = value.rpartition("=")
        path = Path(directory if sep else value).expanduser()
        if not (path / ".git").exists() and not (path / "HEAD").is_file():
            raise UsageError(
                f"--source-dir {value}: {path} is not a git clone",
                hint="pass the root of a clone of the GitOps repository, optionally as "
                "REPO_URL=DIR",
            )
        if not sep:
            proc = subprocess.run(
                ["git", "-C", str(path), "config", "--get", "remote.origin.url"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            url = proc.stdout.strip()
            if not url:
                raise UsageError(
                    f"--source-dir {value}: the clone has no origin remote to say which "
                    "repository it is",
                    hint="write it as --source-dir REPO_URL=DIR, with the Application's repoURL",
                )
        mapped[url] = path
    return mapped


def renderer(
    kube: KubeClients | None = None,
    argocd_namespace: str = "argocd",
    local: Sequence[str] = (),
) -> Render:
    """The Render port alone (see :func:`sources`)."""
    return sources(kube, argocd_namespace, local).render


def sources(
    kube: KubeClients | None = None,
    argocd_namespace: str = "argocd",
    local: Sequence[str] = (),
    deadline: RunDeadline | None = None,
) -> Sources:
    """The Sources port: git sources at their targetRevision, with the credentials Argo CD itself
    would use (repository Secrets, read only when git is refused) or ``PIPELINE_GIT_TOKEN``.
    ``deadline``: the run's, which bounds every git and kustomize command too."""
    from pipeline.adapters.sources import default_cache_dir, make_sources
    from pipeline.core.repositories import credentials_from_secrets, env_credentials

    env = dict(os.environ)

    def credentials(repo_url: str) -> RepoCredentials | None:
        from_env = env_credentials(env)
        if kube is None:
            return from_env
        secrets = kube.repository_secrets(argocd_namespace)
        return credentials_from_secrets(repo_url, secrets) or from_env

    return make_sources(
        default_cache_dir(env), credentials=credentials, local=source_dirs(local),
        deadline=deadline,
    )  # fmt: skip


def deploy_dependencies(
    settings: DeploySettings,
    kube: KubeClients,
    registry: RegistrySettings,
    source_dirs: Sequence[str] = (),
) -> Dependencies:
    """Everything deploy-canary talks to."""
    from pipeline.adapters.credentials import DockerConfigCredentials
    from pipeline.core.plan import application_name
    from pipeline.core.ports import Dependencies

    where = [application_name(t, settings) for t in settings.services]
    names = [(n.argocd_namespace, n.app) for n in where]
    docker_config = DockerConfigCredentials()  # one Docker config for the push and the reads
    files = sources(kube, settings.run.argocd_namespace, source_dirs, kube.cluster.deadline)
    return Dependencies(
        applications=kube.applications,
        cluster=kube.cluster,
        registry=registry_client(registry, kube, names, docker_config),
        builder=builder_factory(settings.build, os.environ.get("DOCKER_HOST"), docker_config),
        render=files.render,
        sources=files,
        access=kube.access,
    )


def request_counts(deps: Dependencies) -> dict[str, dict[str, int]]:
    """Requests this run sent, by method: the JSON report's ``requests`` (docs/json-schema.md)."""
    registry: Any = getattr(deps.registry, "stats", None)
    kube: Any = getattr(deps.cluster, "stats", None)
    return {
        "registry": {
            f"{method} {kind}": n for (method, kind), n in sorted(registry.requests.items())
        }
        if registry is not None
        else {},
        getattr(deps.applications, "backend", "kubernetes").replace("argocd-api", "argocd"): dict(
            sorted(kube.by_verb.items())
        )
        if kube is not None
        else {},
    }
