"""The `pipeline` command line: a thin click layer over the core.

Only this module exits; commands return an exit code. Every exit code comes from
``pipeline.errors.ExitCode`` (docs/exit-codes.md):

* a ``PipelineError``: ``error: <message>`` and ``hint: <what to do>`` on stderr, its code;
* bad flags (click): click's message, 2;
* Ctrl-C: 130, SIGTERM: 143, after the command stopped and said what it had done;
* anything else is a bug: one line naming the command, the exception and where it was raised,
  and how to see the traceback (``pipeline --debug ...`` or ``PIPELINE_DEBUG=1``); never a
  bare traceback.

Every option also reads a ``PIPELINE_*`` environment variable (``auto_envvar_prefix``).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from types import FrameType
from typing import Any

import click

from pipeline import __version__
from pipeline.errors import ExitCode, Interrupted, PipelineError, Terminated

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
@click.option(
    "--debug",
    is_flag=True,
    envvar="PIPELINE_DEBUG",
    help="Show the traceback of an unexpected error [env: PIPELINE_DEBUG].",
)
def cli(debug: bool) -> None:
    """Deploy a pull request's canary image through Argo CD and prove the pods run it."""


TRUE = ("1", "true", "yes", "on")


def _debug(args: Sequence[str]) -> bool:
    """``--debug`` before the command name, or PIPELINE_DEBUG set (click's boolean rule)."""
    for arg in args:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            break
    return os.environ.get("PIPELINE_DEBUG", "").strip().lower() in TRUE


def _command_name(args: Sequence[str]) -> str:
    words = [a for a in args if not a.startswith("-")][:2]
    if words[:1] not in (["render"], ["sandbox"]):
        words = words[:1]
    return " ".join(["pipeline", *words])


def _where(error: BaseException) -> str:
    """The innermost frame of this package: the step that failed."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/pipeline/" in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    path = frame.filename[frame.filename.rindex("/pipeline/") + 1 :]
    return f" in {frame.name} ({path}:{frame.lineno})"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def _error(message: str, hint: str = "") -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def run(args: Sequence[str]) -> int:
    """Run the command line ``args``; the exit code. Prints errors; never raises."""
    debug = _debug(args)
    try:
        # without standalone mode click returns what ctx.exit(code) asked for instead of exiting
        returned = cli.main(list(args), prog_name="pipeline", standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.Abort as e:  # Ctrl-C or SIGTERM outside a command's own handling
        cause = e.__cause__ or e.__context__
        terminated = isinstance(cause, Terminated)
        name = "SIGTERM" if terminated else "SIGINT"
        _error(f"interrupted by {name} before {_command_name(args)} did anything")
        return int(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED)
    except click.ClickException as e:
        e.show()
        return int(ExitCode.USAGE)
    except Interrupted as e:
        _error(e.message, e.hint)
        return int(e.exit_code)
    except PipelineError as e:
        if debug:
            traceback.print_exc()
        _error(e.message, e.hint)
        return int(e.exit_code)
    except Exception as e:
        if debug:
            traceback.print_exc()
        detail = str(e).splitlines()[0][:300] if str(e) else ""
        _error(
            f"{_command_name(args)} failed unexpectedly{_where(e)}: {type(e).__name__}"
            + (f": {detail}" if detail else "")
            + ("" if debug else "; rerun with --debug (pipeline --debug ...) or "
               "PIPELINE_DEBUG=1 for the traceback, and report it as a bug")
        )  # fmt: skip
        return int(ExitCode.INTERNAL)
    return returned if isinstance(returned, int) else int(ExitCode.OK)


def main() -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    code = run(sys.argv[1:])
    if code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
        # the command stopped and reported; threads it abandoned must not hold the exit
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
