"""The reporter the CLI asks for by ``--output``: text, json or github.

Apart from base.py so that base.py (which the reporters import) imports none of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from pipeline.report.base import Reporter
from pipeline.report.github import GitHubReporter
from pipeline.report.json_output import JsonReporter
from pipeline.report.text import TextReporter


def make_reporter(
    output: str, stdout: TextIO, stderr: TextIO, env: dict[str, str] | None = None
) -> Reporter:
    env = dict(os.environ if env is None else env)
    if output == "json":
        return JsonReporter(stdout, TextReporter(stderr))
    if output == "github":
        return GitHubReporter(
            TextReporter(stdout, stderr),
            output_file=Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None,
            summary_file=Path(env["GITHUB_STEP_SUMMARY"])
            if env.get("GITHUB_STEP_SUMMARY")
            else None,
            stream=stdout,
        )
    return TextReporter(stdout, stderr)
