"""`pipeline detect-changes`: map a PR's changed paths to services (pipeline.yaml ``paths:``).

With a GitHub event (``--event``, default ``$GITHUB_EVENT_PATH``) it also decides what the
canary workflow does for it (pipeline/github_event.py): ``deploy``, ``cleanup``, ``skip`` (no
secrets, e.g. a fork) or ``none``. ``--output github`` writes the outputs the workflow reads:
``action``, ``reason``, ``services`` (JSON list), ``matrix`` (``{"include": [...]}``), ``count``,
``all-services``, ``pr``, ``head-sha``, and a step-summary line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from pipeline.changes import detect_changes, github_matrix, service_paths
from pipeline.config import load_config
from pipeline.errors import ExitCode, UsageError
from pipeline.github_event import CLEANUP, DEPLOY, NONE, SKIP, EventDecision, decide
from pipeline.report.github import output_lines


def _read_event(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read the GitHub event {path}: {e}") from None
    return loaded if isinstance(loaded, dict) else None


def outputs(result: dict[str, Any]) -> dict[str, str]:
    services = result["services"]
    return {
        "action": result["action"],
        "reason": result["reason"],
        "services": json.dumps(services),
        "matrix": json.dumps(github_matrix(services)),
        "count": str(len(services)),
        "all-services": json.dumps(result["all_services"]),
        "pr": result["pr"],
        "head-sha": result["head"],
    }


@click.command("detect-changes")
@click.option("--base", envvar="PIPELINE_BASE", required=True, help="Base commit (PR base SHA).")
@click.option(
    "--head", envvar="PIPELINE_HEAD", default="HEAD", show_default=True, help="Head commit."
)
@click.option(
    "--repo", type=click.Path(path_type=Path, file_okay=False), default=".", show_default=True
)
@click.option("--config", envvar="PIPELINE_CONFIG", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--event",
    envvar="GITHUB_EVENT_PATH",
    type=click.Path(path_type=Path, dir_okay=False),
    help="GitHub event payload [env: GITHUB_EVENT_PATH].",
)
@click.option("--label", envvar="PIPELINE_CANARY_LABEL", default="canary", show_default=True)
@click.option("--secrets-present/--no-secrets", envvar="PIPELINE_SECRETS_PRESENT", default=True,
              help="Whether deploy secrets reached this run (false for fork PRs).")  # fmt: skip
@click.option("--output", "-o", envvar="PIPELINE_OUTPUT", default="text",
              type=click.Choice(["text", "json", "github"]))  # fmt: skip
@click.pass_context
def detect_changes_command(
    ctx: click.Context, base: str, head: str, repo: Path, config: Path | None, event: Path | None,
    label: str, secrets_present: bool, output: str,
) -> None:  # fmt: skip
    """List the services whose paths changed between BASE...HEAD; decide the CI action."""
    settings = DetectSettings(
        base=base, head=head, repo=repo, config=load_config(config).values,
        event=_read_event(event), label=label, secrets_present=secrets_present, output=output,
    )  # fmt: skip
    ctx.exit(int(run(settings)))


@dataclass(frozen=True)
class DetectSettings:
    base: str
    head: str
    repo: Path
    config: Mapping[str, Any]  # pipeline.yaml (``paths``, ``services``)
    event: dict[str, Any] | None  # the GitHub event payload; None: a local run
    label: str = "canary"
    secrets_present: bool = True
    output: str = "text"


def run(settings: DetectSettings) -> ExitCode:
    """Decide, report; 0 unless git or the config fails (then an error is raised)."""
    config, head = dict(settings.config), settings.head
    everything = list(service_paths(config))
    decision = (
        decide(settings.event, settings.label, settings.secrets_present)
        if settings.event is not None
        else EventDecision(DEPLOY, "no GitHub event: local run", head_sha=head)
    )
    services: list[str] = []
    changes: dict[str, Any] = {}
    if decision.action == DEPLOY:
        change_set = detect_changes(settings.repo, settings.base, head, config)
        services, changes = list(change_set.services), change_set.as_dict()
        if not services:
            decision = replace(decision, action=NONE, reason="no changed path belongs to a service")
    elif decision.action == CLEANUP:
        services = everything
    result = {
        "action": decision.action,
        "reason": decision.reason,
        "services": services,
        "all_services": everything,
        "pr": decision.pr,
        "head": decision.head_sha or head,
        "fork": decision.fork,
        "changes": changes,
    }
    if settings.output == "json":
        click.echo(json.dumps(result, indent=2))
        return ExitCode.OK
    click.echo(f"{decision.action}: {decision.reason}")
    for service in services:
        matched = ", ".join(changes.get("matched", {}).get(service, [])) if changes else ""
        click.echo(f"  {service}" + (f" ({matched})" if matched else ""))
    if settings.output == "github":
        _write_github(result, decision)
    return ExitCode.OK


def _write_github(result: dict[str, Any], decision: EventDecision) -> None:
    if os.environ.get("GITHUB_OUTPUT"):
        with Path(os.environ["GITHUB_OUTPUT"]).open("a", encoding="utf-8") as f:
            for name, value in outputs(result).items():
                f.write(output_lines(name, value))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        services = ", ".join(result["services"]) or "none"
        with Path(os.environ["GITHUB_STEP_SUMMARY"]).open("a", encoding="utf-8") as f:
            f.write(f"### Canary plan\n\n**{decision.action}**: {decision.reason}\n\n"
                    f"Services: {services}\n\n")  # fmt: skip
    if decision.action == SKIP:
        click.echo(f"::notice title=canary skipped::{decision.reason}")
