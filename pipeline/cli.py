"""The `pipeline` command line: a thin click layer over the core.

Only this module prints final results and exits; commands return an exit code.
Every option also reads a ``PIPELINE_*`` environment variable (``auto_envvar_prefix``).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pipeline import __version__
from pipeline.errors import ExitCode, PipelineError

# name -> ("module:attribute", short help). A command's module is imported when the command
# runs or its own --help is asked for, never for `pipeline --help`, which lists these strings
# (tests/unit/test_cli_lazy.py checks they match each command's docstring).
COMMANDS: dict[str, tuple[str, str]] = {
    "sandbox": (
        "pipeline.commands.sandbox:sandbox",
        "A local Kubernetes API server with Argo CD, a Deployment controller and a kubelet.",
    ),
    "deploy-canary": (
        "pipeline.commands.deploy:deploy_canary",
        "Build, push, pin, sync and verify a canary image (docs/deploy-canary.md).",
    ),
    "detect-changes": (
        "pipeline.commands.changes:detect_changes_command",
        "List the services whose paths changed between BASE...HEAD; decide the CI action.",
    ),
    "cleanup-canary": (
        "pipeline.commands.cleanup:cleanup_canary",
        "Remove the canary pin, restore what it replaced, sync and confirm (idempotent).",
    ),
    "render": (
        "pipeline.commands.render:render_group",
        "Generate CI files from pipeline.yaml, the PR comment, and Argo step outputs.",
    ),
    "status": (
        "pipeline.commands.status:status",
        "What the registry has, what the Application pins, what the pods run "
        "(docs/poll-status.md).",
    ),
    "refresh": (
        "pipeline.commands.refresh:refresh",
        "Ask Argo CD to reconcile an Application now (docs/poll-status.md).",
    ),
    "poll": (
        "pipeline.commands.poll:poll",
        "Update every annotated Application whose image moved (docs/poll-status.md).",
    ),
}


def load_command(target: str) -> click.Command:
    """``"package.module:attribute"`` -> the click command it names (imports the module)."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (``COMMANDS``)."""

    def __init__(
        self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.add_command(load_command(self.lazy_commands[cmd_name][0]), cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:
                # shortened exactly as the command's own docstring would be, without importing it
                stand_in = click.Command(name, help=self.lazy_commands[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"auto_envvar_prefix": "PIPELINE", "help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="pipeline")
def cli() -> None:
    """Deploy a pull request's canary image through Argo CD and prove the pods run it."""


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
