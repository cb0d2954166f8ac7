"""Tag filters (``allow-tags``, ``ignore-tags``) and platform filters, as image-updater has them.

- ``allow-tags`` (``registry-scanner/pkg/image/options.go`` ``ParseMatch``): empty or ``any``
  (any case) allows every tag; ``regexp:<RE>`` (function name in any case) allows the tags the
  expression matches anywhere in them (Go ``Regexp.MatchString`` is unanchored: anchor with
  ``^...$`` yourself). Anything else, including a regexp that does not compile, allows **no**
  tag (fail closed); image-updater only logs a warning, we also carry the reason so reports show
  it. The expression is compiled with RE2 (PyPI ``google-re2``), the engine and syntax of Go's
  ``regexp``: what Go rejects (look-around, back-references) does not compile here either, and
  matching is linear in the tag's length (``^(a+)+$`` cannot backtrack). Without the ``re2``
  module a regexp fails closed naming the missing dependency (:func:`compile_go_regexp`).
- ``ignore-tags`` (``version.go`` ``IsTagIgnored``): comma-separated Go ``filepath.Match`` globs
  (``*``, ``?``, ``[...]``, ``[^...]``, ``\\`` escapes); a malformed glob ignores nothing.
- ``platforms`` (``options.go`` ``GetPlatformOptions``, ``pkg/options/options.go``
  ``WantsPlatform``): ``os/arch[/variant]`` entries; a manifest is wanted when its
  ``os/arch/variant`` is listed, or it has a variant and its ``os/arch`` is listed. A malformed
  entry becomes a constraint nothing satisfies (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Matcher(Protocol):
    """What a compiled allow-tags expression offers (an RE2 ``_Regexp`` or ``re.Pattern``)."""

    pattern: Any

    def search(self, text: str) -> Any: ...


class RegexpError(ValueError):
    """An expression Go's regexp (RE2) would not compile, or no RE2 engine here."""


def compile_go_regexp(expression: str) -> Matcher:
    """``expression`` compiled as Go's ``regexp.Compile`` does (RE2 syntax, linear time)."""
    try:
        import re2
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        raise RegexpError(
            "the RE2 engine is not installed (pip install google-re2), so the expression "
            "cannot be checked the way image-updater's Go regexp reads it"
        ) from None
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, not RE2's stderr log
    try:
        compiled: Matcher = re2.compile(expression, options=options)
    except re2.error as e:
        detail = e.args[0] if e.args else e
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise RegexpError(text) from None
    return compiled


@dataclass(frozen=True)
class AllowTags:
    """The parsed ``allow-tags`` value. ``problem`` is set when it fails closed."""

    text: str = ""
    pattern: Matcher | None = None
    problem: str = ""
    invalid_regexp: bool = False  # a ``regexp:`` that does not compile: refused, not ignored

    @property
    def allows_any(self) -> bool:
        return self.pattern is None and not self.problem

    def allows(self, tag: str) -> bool:
        if self.problem:
            return False
        return self.pattern is None or self.pattern.search(tag) is not None


def parse_allow_tags(text: str) -> AllowTags:
    if text == "" or text.lower() == "any":
        return AllowTags(text)
    function, sep, argument = text.partition(":")
    if not sep:
        return AllowTags(text, problem=f"allow-tags {text!r} is not 'any' or 'regexp:<RE>'")
    if function.lower() != "regexp":
        return AllowTags(text, problem=f"allow-tags has unknown match function {function!r}")
    try:
        return AllowTags(text, pattern=compile_go_regexp(argument))
    except RegexpError as e:
        problem = f"allow-tags regexp {argument!r} does not compile (Go regexp, RE2): {e}"
        return AllowTags(text, problem=problem, invalid_regexp=True)


def _glob_class(pattern: str, i: int) -> tuple[str, int] | None:
    """Translate ``[...]`` starting after the ``[`` at ``i``; None if malformed."""
    out, negate = [], False
    if i < len(pattern) and pattern[i] == "^":
        negate, i = True, i + 1
    first = True
    while True:
        if i >= len(pattern):
            return None
        if pattern[i] == "]" and not first:
            break
        lo, i = _glob_char(pattern, i)
        if lo is None:
            return None
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            upper, i = _glob_char(pattern, i + 1)
            if upper is None or upper < lo:
                return None
            hi = upper
        out.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
        first = False
    return ("[^" if negate else "[") + "".join(out) + "]", i + 1


def _glob_char(pattern: str, i: int) -> tuple[str | None, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        return (pattern[i + 1], i + 2) if i + 1 < len(pattern) else (None, i)
    return pattern[i], i + 1


def compile_glob(pattern: str) -> re.Pattern[str] | None:
    """Go ``filepath.Match`` pattern as a regex; None when Go would return ErrBadPattern."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            if i + 1 >= len(pattern):
                return None
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            translated = _glob_class(pattern, i + 1)
            if translated is None:
                return None
            cls, i = translated
            out.append(cls)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def parse_ignore_tags(text: str) -> tuple[str, ...]:
    """``tag1, tag?`` -> ``("tag1", "tag?")``; empty entries are dropped."""
    return tuple(p.strip() for p in text.strip().split(",") if p.strip())


def is_ignored(tag: str, ignore: Iterable[str]) -> bool:
    for glob in ignore:
        compiled = compile_glob(glob)
        if compiled is not None and compiled.fullmatch(tag):
            return True
    return False


@dataclass(frozen=True)
class TagFilter:
    allow: AllowTags = field(default_factory=AllowTags)
    ignore: tuple[str, ...] = ()

    def keeps(self, tag: str) -> bool:
        return self.allow.allows(tag) and not is_ignored(tag, self.ignore)


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    variant: str = ""
    valid: bool = True

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)


def parse_platforms(text: str) -> tuple[Platform, ...]:
    """``linux/amd64, linux/arm64/v8`` -> platforms; a malformed entry never matches."""
    platforms = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split("/", 2)
        if len(parts) < 2:
            platforms.append(Platform(entry, "", "", valid=False))
        else:
            platforms.append(Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    return tuple(platforms)


def wants_platform(platforms: Iterable[Platform], os: str, arch: str, variant: str = "") -> bool:
    """Is a manifest for ``os/arch/variant`` wanted? An empty list wants every platform; the
    caller substitutes its default (image-updater: its own runtime platform) beforehand."""
    listed = tuple(platforms)
    if not listed:
        return True
    wanted = {(p.os, p.arch, p.variant) for p in listed if p.valid}
    return (os, arch, variant) in wanted or (bool(variant) and (os, arch, "") in wanted)
