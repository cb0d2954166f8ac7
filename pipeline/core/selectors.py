"""Label selectors checked as the API server parses them (apimachinery ``labels.Parse``).

A selector the API server would refuse, or would read differently than written (``a=b,,c=d``),
is refused before anything is written, naming the character where it goes wrong. Grammar::

    selector    = "" | requirement ("," requirement)*
    requirement = ["!"] KEY | KEY ("=" | "==" | "!=") VALUE | KEY ("in" | "notin") "(" VALUES ")"
                | KEY (">" | "<") INTEGER
    KEY         = [DNS-1123 subdomain "/"] name (name: 1-63 of [A-Za-z0-9-_.], alphanumeric ends)
    VALUE       = "" | name

Whitespace around tokens is ignored, as the API server's lexer does.
"""

from __future__ import annotations

import re

from pipeline.core.plan import render_template, template_values
from pipeline.core.settings import DeploySettings
from pipeline.errors import UsageError

_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z", re.ASCII)
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_TOKEN = re.compile(r"\s*(!=|==|=|!|\(|\)|,|>|<|[^\s!=(),<>]+)", re.ASCII)
_SYMBOLS = frozenset(("!=", "==", "=", "!", "(", ")", ",", ">", "<"))
_HINT = "write key=value pairs separated by single commas, e.g. app=auth-api,version=v2"


def _tokens(text: str) -> list[tuple[str, int]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # only trailing whitespace is left
            break
        out.append((match.group(1), match.start(1)))
        pos = match.end()
    return out


def _key_problem(key: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        return f"the key prefix {prefix!r} is not a DNS subdomain"
    if not _NAME.match(name):
        return f"{key!r} is not a label key (1-63 of [A-Za-z0-9-_.], alphanumeric at both ends)"
    return ""


def check_label_selector(selector: str, where: str = "") -> str:
    """``selector`` unchanged when the API server would parse it; else UsageError naming the
    character (1-based) where it stops making sense."""
    tokens = _tokens(selector)
    i = 0

    def fail(expected: str) -> UsageError:
        if i < len(tokens):
            token, at = tokens[i]
            found = f"found {token!r} at character {at + 1}"
        else:
            found = f"it ends at character {len(selector)}"
        of = f" ({where})" if where else ""
        return UsageError(
            f"invalid label selector {selector!r}{of}: {found}, expected {expected}", hint=_HINT
        )

    def key() -> None:
        nonlocal i
        if i < len(tokens) and tokens[i][0] not in _SYMBOLS:
            problem = _key_problem(tokens[i][0])
            if problem:
                raise fail(f"a label key ({problem})")
            i += 1
            return
        raise fail("a label key")

    def value(allow_empty: bool) -> None:
        nonlocal i
        if i < len(tokens) and tokens[i][0] not in _SYMBOLS:
            if not _NAME.match(tokens[i][0]):
                raise fail("a label value (up to 63 of [A-Za-z0-9-_.], alphanumeric ends)")
            i += 1
        elif not allow_empty:
            raise fail("a label value")

    if not tokens:
        return selector
    while True:
        if tokens[i][0] == "!":
            i += 1
            key()
        else:
            key()
            op = tokens[i][0] if i < len(tokens) else ","
            if op in ("=", "==", "!="):
                i += 1
                value(allow_empty=True)
            elif op in ("in", "notin"):
                i += 1
                if i >= len(tokens) or tokens[i][0] != "(":
                    raise fail("'(' after " + op)
                i += 1
                while True:
                    value(allow_empty=True)
                    if i < len(tokens) and tokens[i][0] == ",":
                        i += 1
                        continue
                    if i < len(tokens) and tokens[i][0] == ")":
                        i += 1
                        break
                    raise fail("',' or ')'")
            elif op in (">", "<"):
                i += 1
                if i >= len(tokens) or not tokens[i][0].isdigit():
                    raise fail("an integer after " + op)
                i += 1
            elif op != ",":
                raise fail("'=', '==', '!=', 'in', 'notin' or ','")
        if i == len(tokens):
            return selector
        if tokens[i][0] != ",":
            raise fail("','")
        i += 1
        if i == len(tokens):
            raise fail("a requirement after ','")


def check_selectors(settings: DeploySettings) -> None:
    """Every service's canary selector, rendered, as the API server would parse it."""
    for target in settings.services:
        selector = render_template(target.selector, template_values(target, settings))
        check_label_selector(selector, f"the canary selector of service {target.name!r}")


def matches_selector(selector: str, labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector`` (a valid one, see check_label_selector), as the
    API server filters a list (apimachinery ``labels.Requirement.Matches``)."""
    tokens = [t for t, _ in _tokens(selector)]
    i = 0
    while i < len(tokens):
        if tokens[i] == "!":
            if tokens[i + 1] in labels:
                return False
            i += 2
        else:
            key, op = tokens[i], tokens[i + 1] if i + 1 < len(tokens) else ","
            i += 1
            if op in ("=", "==", "!="):
                i += 1
                value = tokens[i] if i < len(tokens) and tokens[i] not in _SYMBOLS else ""
                i += 1 if value else 0
                if (labels.get(key) == value) != (op != "!="):
                    return False
            elif op in ("in", "notin"):
                i += 2  # the operator and "("
                values = set()
                while tokens[i] != ")":
                    if tokens[i] != ",":
                        values.add(tokens[i])
                    i += 1
                i += 1
                if op == "in" and labels.get(key) not in values:
                    return False
                if op == "notin" and key in labels and labels[key] in values:
                    return False
            elif op in (">", "<"):
                bound, i = int(tokens[i + 1]), i + 2
                try:
                    have = int(labels[key])
                except (KeyError, ValueError):
                    return False
                if not (have > bound if op == ">" else have < bound):
                    return False
            elif key not in labels:
                return False
        if i < len(tokens) and tokens[i] == ",":
            i += 1
    return True
