"""`pipeline sandbox up|down|status` (placeholder until the supervisor lands)."""

from __future__ import annotations

import click


@click.group()
def sandbox() -> None:
    """A local Kubernetes API server with Argo CD, a Deployment controller and a kubelet."""
