"""Options several commands share, and which of their values the user set.

Every option reads ``PIPELINE_<OPTION>`` (``--kubeconfig``: ``KUBECONFIG``). ``explicit``
returns the values set on the command line or in the environment: those beat pipeline.yaml
(pipeline/config.py), the built-in defaults do not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]
OUTPUTS = ("text", "json")
BACKENDS = ("auto", "kubernetes", "argocd-api")  # pipeline/config.py BACKENDS


def opt(*decls: str, **kwargs: Any) -> Decorator:
    """A click option reading ``PIPELINE_<NAME>`` and showing it in ``--help``."""
    name = decls[0].lstrip("-").replace("-", "_").upper()
    kwargs.setdefault("envvar", f"PIPELINE_{name}")
    kwargs.setdefault("show_envvar", True)
    return click.option(*decls, **kwargs)


def _apply(func: Callable[..., Any], options: tuple[Decorator, ...]) -> Callable[..., Any]:
    for option in reversed(options):
        func = option(func)
    return func


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return opt(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        help="pipeline.yaml path [default: ./pipeline.yaml when present].",
    )(func)


def kube_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--argocd-namespace`` (no default here: pipeline.yaml may set it), the backend: a
    kubeconfig and context, or the Argo CD API server and token (docs/backends.md)."""
    return backend_options(opt(
        "--argocd-namespace",
        help="Namespace of the Argo CD Applications [default: argocd, or pipeline.yaml's "
        "argocd_namespace].",
    )(func))  # fmt: skip


def backend_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """How Argo CD is reached: a kubeconfig, or the Argo CD API server and a token."""
    return _apply(func, (
        opt("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file(s)."),
        opt("--kube-context", help="Kubeconfig context to use."),
        opt("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
            help="Reach Argo CD through the Kubernetes API (kubeconfig) or the Argo CD API "
            "server (token); auto: the API when --argocd-server is typed, or ARGOCD_SERVER "
            "is set and no kubeconfig is."),
        opt("--argocd-server", envvar="ARGOCD_SERVER", metavar="HOST:PORT|URL",
            help="Argo CD API server, as the argocd CLI takes it (http:// means --plaintext)."),
        opt("--auth-token", envvar="ARGOCD_AUTH_TOKEN", metavar="TOKEN",
            help="Argo CD token (account, project role or session); never printed."),
        opt("--insecure", is_flag=True, default=False,
            help="Skip the Argo CD API server's TLS verification."),
        opt("--plaintext", is_flag=True, default=False,
            help="Argo CD API server over plain HTTP."),
        opt("--grpc-web-root-path", metavar="PATH",
            help="Path Argo CD is served below (its --rootpath)."),
        opt("--argocd-ca", type=click.Path(path_type=Path, dir_okay=False),
            help="CA certificate(s) of the Argo CD API server (PEM)."),
        opt("--argocd-context", metavar="NAME",
            help="Context of the argocd CLI's config (server, token, TLS) to use."),
        opt("--argocd-config", type=click.Path(path_type=Path, dir_okay=False),
            help="The argocd CLI's config file [default: its own, ~/.config/argocd/config]."),
    ))  # fmt: skip


def typed_options(ctx: click.Context) -> set[str]:
    """Parameters given on the command line (not through their environment variable)."""
    return {
        name for name in ctx.params if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }


def registry_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return _apply(func, (
        opt("--registry-ca", type=click.Path(path_type=Path, dir_okay=False),
            help="CA bundle for registries with a private CA."),
        opt("--insecure-registry", multiple=True,
            help="Registry host allowed over plain HTTP (repeatable)."),
        opt("--registry-rps", multiple=True, metavar="HOST=RPS",
            help="Requests per second to HOST (0 = unlimited; default 10 for Docker Hub, 20 "
            "for others, as image-updater)."),
    ))  # fmt: skip


def explicit(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters set on the command line or through their environment variable."""
    chosen = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {
        k: v
        for k, v in params.items()
        if v is not None and v != () and ctx.get_parameter_source(k) in chosen
    }
