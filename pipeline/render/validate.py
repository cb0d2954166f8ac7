"""Reject inputs that could inject YAML, shell or GitHub/Argo expressions into rendered files.

Rendered values are emitted with ``tojson`` (a JSON string is a valid YAML flow scalar) and
never pasted into shell text, but names also end up inside identifiers that no quoting protects:
Kubernetes object names, Argo mutex names, GitHub concurrency groups and artifact names. So
every input is checked against the narrowest grammar its uses allow, and all problems are
reported at once, each naming the input.

- Service names and namespaces: an RFC 1123 DNS label (Kubernetes ``IsDNS1123Label``,
  ``k8s.io/apimachinery/pkg/util/validation``): ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, max 63.
- Path globs: letters, digits and ``. _ - / * ? + @``; relative, no ``..`` segment.
- Image repositories: the distribution reference grammar's characters only
  (``github.com/distribution/reference/regexp.go``): lower-case letters, digits, ``. _ - / :``.
- Application names (in Argo CD ``policy.csv`` objects): an RFC 1123 subdomain's characters,
  plus ``*`` where the name depends on the PR or commit (an Argo CD RBAC glob).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.errors import UsageError

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
PATH_GLOB = re.compile(r"[A-Za-z0-9._*?+@/-]+\Z")
IMAGE_REPO = re.compile(r"[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?\Z")
APP_PATTERN = re.compile(r"[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?\Z")
CRON_FIELD = re.compile(r"(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*\Z")
PLAIN_TEXT = re.compile(r"[A-Za-z0-9 ._:/@=+-]*\Z")


def _shown(value: object) -> str:
    return repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."


def _match_problem(
    what: str, value: object, pattern: re.Pattern[str], max_len: int, is_not: str
) -> str | None:
    """``<what> <value> is not <is_not>`` unless value is a string matching pattern."""
    if not isinstance(value, str) or len(value) > max_len or not pattern.match(value):
        return f"{what} {_shown(value)} is not {is_not}"
    return None


def dns_label_problem(what: str, value: object) -> str | None:
    return _match_problem(
        what, value, DNS_LABEL, 63, "a DNS label: use 1-63 lower-case letters, digits and '-', "
        "starting and ending with a letter or digit",
    )  # fmt: skip


def path_glob_problem(what: str, value: object) -> str | None:
    if not isinstance(value, str) or not PATH_GLOB.match(value):
        return (
            f"{what} {_shown(value)} may only contain letters, digits and . _ - / * ? + @ "
            "(no spaces, quotes, $, `, ;, |, &, newlines or braces)"
        )
    if value.startswith("/") or ".." in value.split("/"):
        return f"{what} {_shown(value)} must be relative to the repository root, without '..'"
    return None


def app_pattern_problem(what: str, value: object) -> str | None:
    return _match_problem(
        what, value, APP_PATTERN, 253, "an Application name: use lower-case letters, digits, "
        "'-' and '.' (and the {pr} or {short_sha} fields)",
    )  # fmt: skip


def image_problem(what: str, value: object) -> str | None:
    return _match_problem(
        what, value, IMAGE_REPO, 255, "an image repository: use lower-case letters, digits "
        "and . _ - / : only",
    )  # fmt: skip


def text_problem(what: str, value: object) -> str | None:
    if not isinstance(value, str) or not value or not PLAIN_TEXT.match(value):
        return (
            f"{what} {_shown(value)} may only contain letters, digits, spaces and . _ : / @ = + -"
        )
    return None


def cron_problem(what: str, value: object) -> str | None:
    fields = value.split(" ") if isinstance(value, str) else []
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        return f"{what} {_shown(value)} is not a 5-field cron schedule (digits, * , - / only)"
    return None


def raise_problems(problems: Iterable[str | None], source: str) -> None:
    """Raise one UsageError listing every problem found, or return when there is none."""
    found = [p for p in problems if p]
    if found:
        raise UsageError(
            f"{source}: {len(found)} unsafe value(s): " + "; ".join(found),
            hint="these values end up in generated YAML, shell steps and object names; "
            "rename them in pipeline.yaml and render again",
            reason="unsafe-render-input",
        )
