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
    """``--argocd-namespace`` (no default here: pipeline.yaml may set it), kubeconfig, context."""
    return _apply(func, (
        opt("--argocd-namespace",
            help="Namespace of the Argo CD Applications [default: argocd, or pipeline.yaml's "
            "argocd_namespace]."),
        opt("--kubeconfig", envvar="KUBECONFIG", help="Kubeconfig file(s)."),
        opt("--kube-context", help="Kubeconfig context to use."),
    ))  # fmt: skip


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
