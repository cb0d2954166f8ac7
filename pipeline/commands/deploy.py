"""`pipeline deploy-canary` (placeholder until the deploy core lands)."""

from __future__ import annotations

import click


@click.command("deploy-canary")
def deploy_canary() -> None:
    """Build, push, pin, sync and verify a canary image."""
    raise click.UsageError("deploy-canary is not implemented yet")
