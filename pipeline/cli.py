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

import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from types import FrameType

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
from pipeline.errors import ExitCode, Interrupted, PipelineError, Terminated


@click.group(
    context_settings={"auto_envvar_prefix": "PIPELINE", "help_option_names": ["-h", "--help"]}
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


cli.add_command(sandbox)
cli.add_command(deploy_canary)
cli.add_command(detect_changes_command)
cli.add_command(cleanup_canary)
cli.add_command(render_group)
cli.add_command(status)
cli.add_command(refresh)
cli.add_command(poll)


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
