"""The `pipeline` command line: a thin click layer over the core.

Only this module prints final results and exits; commands return an exit code.
Every option also reads a ``PIPELINE_*`` environment variable (``auto_envvar_prefix``).
"""

from __future__ import annotations

import sys

import click

from pipeline import __version__
from pipeline.commands.changes import detect_changes_command
from pipeline.commands.cleanup import cleanup_canary
from pipeline.commands.deploy import deploy_canary
from pipeline.commands.poll import poll
from pipeline.commands.refresh import refresh
from pipeline.commands.render import render_group
from pipeline.commands.sandbox import sandbox
from pipeline.commands.status import status
from pipeline.errors import ExitCode, PipelineError


@click.group(
    context_settings={"auto_envvar_prefix": "PIPELINE", "help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="pipeline")
def cli() -> None:
    """Deploy a pull request's canary image through Argo CD and prove the pods run it."""


cli.add_command(sandbox)
cli.add_command(deploy_canary)
cli.add_command(detect_changes_command)
cli.add_command(cleanup_canary)
cli.add_command(render_group)
cli.add_command(status)
cli.add_command(refresh)
cli.add_command(poll)


def main() -> None:
    try:
        # without standalone mode click returns what ctx.exit(code) asked for instead of exiting
        returned = cli.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(ExitCode.INTERNAL)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitCode.USAGE)
    except PipelineError as e:
        click.echo(f"error: {e.message}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(e.exit_code)
    sys.exit(returned if isinstance(returned, int) else ExitCode.OK)
