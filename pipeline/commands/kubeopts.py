"""Options and adapters shared by `status`, `refresh` and `poll` (docs/poll-status.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pipeline.adapters.registry_pool import RegistryPool

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def kube_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option("--argocd-namespace", default="argocd", show_default=True,
                         help="Namespace of the Argo CD Applications."),
            click.option("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig [env: KUBECONFIG]."),
            click.option("--kube-context", help="Kubeconfig context to use."),
        )
    ):  # fmt: skip
        func = option(func)
    return func


def registry_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option("--registry-ca", type=click.Path(path_type=Path, dir_okay=False),
                         help="CA bundle for registries with a private CA."),
            click.option("--insecure-registry", multiple=True,
                         help="Registry host allowed over plain HTTP (repeatable)."),
            click.option("--registry-rps", multiple=True, metavar="HOST=RPS",
                         help="Requests per second to HOST (0 = unlimited; default 10 for "
                         "Docker Hub, 20 for others, as image-updater)."),
        )
    ):  # fmt: skip
        func = option(func)
    return func


def connect_kube(params: dict[str, Any]) -> tuple[Any, Any]:
    """(ArgoApplications, KubeCluster) sharing one ApiClient and request counter."""
    from pipeline.adapters.argocd import ArgoApplications
    from pipeline.adapters.kube import KubeCluster, RequestStats, connect

    api = connect(params["kubeconfig"], params["kube_context"])
    stats = RequestStats()
    return ArgoApplications(api, stats), KubeCluster(api, stats)


def registry_pool(params: dict[str, Any], cluster: Any) -> RegistryPool:
    from pipeline.adapters.kubereads import read_secret
    from pipeline.adapters.ratelimit import parse_rates
    from pipeline.adapters.registry_pool import RegistryPool

    return RegistryPool(
        get_secret=lambda ns, name: read_secret(cluster, ns, name),
        ca_bundle=str(params["registry_ca"]) if params["registry_ca"] else None,
        insecure=tuple(params["insecure_registry"]),
        rates=parse_rates(tuple(params["registry_rps"])),
    )
