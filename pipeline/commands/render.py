"""`pipeline render`: the CI files generated from pipeline.yaml, the PR comment, Argo outputs.

``pipeline render TARGET`` prints (or writes with ``--output-file``) one generated file;
``--check FILE`` exits 15 (``DRIFT``) when FILE differs from what would be rendered.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import click

from pipeline.config import load_config
from pipeline.errors import DriftError, ExitCode, UsageError

_config_option = click.option(
    "--config",
    envvar="PIPELINE_CONFIG",
    type=click.Path(path_type=Path, dir_okay=False),
    help="pipeline.yaml path [default: ./pipeline.yaml].",
)
_output_option = click.option(
    "--output-file", type=click.Path(path_type=Path, dir_okay=False), help="Write here."
)


def _emit(text: str, output_file: Path | None) -> None:
    if output_file is None:
        click.echo(text, nl=False)
    else:
        output_file.parent.mkdir(parents=True, exist_ok=True)
        output_file.write_text(text)


def _target_command(target: str) -> click.Command:
    @click.command(target)
    @_config_option
    @_output_option
    @click.option("--check", type=click.Path(path_type=Path, dir_okay=False), help="Compare.")
    def command(
        config: Path | None, output_file: Path | None, check: Path | None, backend: str = ""
    ) -> None:
        from pipeline.render.context import build_context
        from pipeline.render.engine import BACKENDS, render

        name = BACKENDS[target][backend] if backend else target
        loaded = load_config(config, required=True)
        source = loaded.name
        if not loaded.values:
            raise UsageError(f"{source} is empty", hint="list services in it, or pass --config")
        text = render(name, build_context(dict(loaded.values), source))
        if check is not None:
            current = check.read_text() if check.is_file() else ""
            if current != text:
                diff = difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True), str(check), "rendered"
                )
                click.echo("".join(diff), err=True)
                again = f"{target} --backend {backend}" if backend else target
                raise DriftError(
                    f"{check} drifted from {source}",
                    hint=f"run: pipeline render {again} --config {source} --output-file {check}",
                )
            return
        _emit(text, output_file)

    command.help = f"Render the {target} for the services in pipeline.yaml."
    return command


@click.group("render")
def render_group() -> None:
    """Generate CI files from pipeline.yaml, the PR comment, and Argo step outputs."""


# the keys of pipeline.render.engine.TARGETS (not imported here: jinja2 loads on first use)
for _target in (
    "github-workflow",
    "reusable-workflow",
    "workflow-template",
    "cron-workflow",
    "rbac",
):
    render_group.add_command(_target_command(_target))
# RBAC for either way the pipeline reaches Argo CD (pipeline.render.engine.BACKENDS)
render_group.commands["rbac"].params.append(
    click.Option(
        ["--backend"],
        type=click.Choice(["kubernetes", "argocd-api"]),
        default="kubernetes",
        show_default=True,
        help="kubernetes: Roles for a kubeconfig or ServiceAccount; argocd-api: the account and "
        "policy.csv lines for an Argo CD API token (argocd-cm / argocd-rbac-cm patches).",
    )
)


@render_group.command("pr-comment")
@click.argument("reports", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--head-sha", envvar="PIPELINE_HEAD", default="", help="Commit deployed.")
@_output_option
def pr_comment(reports: tuple[Path, ...], head_sha: str, output_file: Path | None) -> None:
    """The PR comment (Markdown) from deploy-canary / cleanup-canary JSON reports."""
    from pipeline.render.comment import load_reports, render_comment

    _emit(render_comment(load_reports(list(reports)), head_sha), output_file)


@render_group.command("replaced-notices")
@click.argument("reports", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--head-sha", envvar="PIPELINE_HEAD", default="", help="Commit deployed.")
@_output_option
def replaced_notices(reports: tuple[Path, ...], head_sha: str, output_file: Path | None) -> None:
    """JSON list of {pr, body}: one comment for each PR whose canary these deploys replaced."""
    from pipeline.render.comment import load_reports, replaced_notices

    notices = replaced_notices(load_reports(list(reports)), head_sha)
    _emit(json.dumps(notices, indent=2) + "\n", output_file)


@render_group.command("report-outputs")
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--output-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def report_outputs_command(report: Path, output_dir: Path) -> None:
    """Write digest, result and exit-code from a JSON report as files (Argo output parameters)."""
    from pipeline.render.comment import report_outputs

    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        doc = {"result": "failed", "exit_code": int(ExitCode.INTERNAL), "services": []}
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, value in report_outputs(doc).items():
        (output_dir / name).write_text(value)
