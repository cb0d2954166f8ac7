"""Render the shipped CI files from pipeline.yaml with jinja2.

- ``undefined=StrictUndefined``: a misspelt variable is an error, never an empty string.
- Values are emitted with ``tojson`` (a JSON string is a valid YAML flow scalar, so quoting
  cannot be broken) and reach shell steps only through ``env:``; validate.py rejects names and
  paths that could still inject YAML, shell or expressions.
- HTML autoescaping is on only for Markdown (the PR comment, rendered by GitHub as HTML);
  YAML templates are not HTML.
- Delimiters ``<< >>`` / ``<% %>`` / ``<# #>``, because GitHub (``${{ }}``) and Argo
  (``{{ }}``, ``{{= }}``) use jinja's defaults in the files we generate.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pipeline.errors import ExitCode
from pipeline.render.actions import ACTIONS
from pipeline.render.context import RenderContext

# exit codes worth a retry: the registry was briefly unavailable or rate limited
TRANSIENT_EXIT_CODES = (ExitCode.REGISTRY, ExitCode.RATE_LIMITED)


def retry_expression() -> str:
    """Argo ``retryStrategy.expression`` (expr-lang; docs/retries.md): transient exit codes, or
    an error of the pod itself (``lastRetry.status == 'Error'``: evicted, deleted, OOM-killed)."""
    codes = ", ".join(str(int(c)) for c in TRANSIENT_EXIT_CODES)
    return f"asInt(lastRetry.exitCode) in [{codes}] || lastRetry.status == 'Error'"


TARGETS = {
    "github-workflow": "github/canary.yaml.j2",
    "reusable-workflow": "github/canary-reusable.yaml.j2",
    "workflow-template": "argo/deploy-canary.yaml.j2",
    "cron-workflow": "argo/poll.yaml.j2",
    "rbac": "argo/rbac.yaml.j2",
    "argocd-rbac": "argocd/rbac.yaml.j2",  # `render rbac --backend argocd-api`
}
# where the checked-in copy of each target lives, relative to the repository root
# (the caller, github-workflow, lives in adopting repositories; this one runs no canary itself)
SHIPPED = {
    "reusable-workflow": ".github/workflows/canary-reusable.yaml",
    "workflow-template": "workflow-templates/deploy-canary.yaml",
    "cron-workflow": "workflow-templates/poll-cronworkflow.yaml",
    "rbac": "workflow-templates/rbac.yaml",
    "argocd-rbac": "workflow-templates/argocd-rbac.yaml",
}
# targets with a --backend option: backend -> target
BACKENDS = {"rbac": {"kubernetes": "rbac", "argocd-api": "argocd-rbac"}}


def environment() -> Environment:
    return Environment(
        loader=PackageLoader("pipeline", "templates"),
        autoescape=select_autoescape(
            enabled_extensions=("md.j2",), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(target: str, context: RenderContext) -> str:
    """The text of one target (see TARGETS) for this project."""
    variables = {
        **context.as_template_vars(),
        "actions": ACTIONS,
        "argocd_namespace": context.argocd_namespace,
        "transient": [f"{int(c)} {c.name}" for c in TRANSIENT_EXIT_CODES],
        "exit_usage": int(ExitCode.USAGE),
        "exit_build": int(ExitCode.BUILD),
        "exit_registry": int(ExitCode.REGISTRY),
        "exit_rate_limited": int(ExitCode.RATE_LIMITED),
        "retry_expression": retry_expression(),
    }
    return environment().get_template(TARGETS[target]).render(variables)
