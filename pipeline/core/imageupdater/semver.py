"""Semantic versions and constraints with Masterminds/semver v3.4.0's exact semantics.

argocd-image-updater's ``semver`` strategy is ``Masterminds/semver/v3`` (v3.4.0 in
``registry-scanner/go.mod``). No PyPI package matches it: ``semver`` has no range grammar
(``^``, ``~``, ``x``, ``||``, hyphen ranges) and rejects ``v1.2``/``1.0``; ``node-semver``
follows npm, whose pre-release rule (a pre-release only matches a comparator on the same
``major.minor.patch``) and ``x``-range handling differ. So this module ports the grammar:

- ``NewVersion`` (``version.go``, ``CoerceNewVersion`` = true, the default): ``v?M[.m[.p]]``,
  missing parts are 0, leading zeros allowed in the numbers, pre-release identifiers checked
  (numeric ones without leading zeros), build metadata ignored when comparing.
- ``Compare``: numbers, then a release beats its pre-releases, then identifiers one by one:
  numeric < alphanumeric, numbers numerically, strings byte-wise (so ``rc9`` > ``rc10``).
- ``NewConstraint`` (``constraints.go``): the same regular expressions, ``||`` for OR, comma or
  space for AND, ``a - b`` ranges, operators ``= != > < >= => <= =< ~ ~> ^``, wildcards
  ``x X *``. A pre-release version only matches an AND group in which some constraint names a
  pre-release (v3.4.0 #267), so ``2.x-0`` admits ``2.0.0-rc1`` and ``^1.0`` does not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cmp_to_key

from pipeline.errors import InvalidVersion, UsageError

_WS = r"[\t\n\f\r ]"
_CV = (
    r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_VERSION_RE = re.compile(
    r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
)
_CONSTRAINT_RE = re.compile(rf"{_WS}*({_OPS}){_WS}*({_CV}){_WS}*")
_RANGE_RE = re.compile(rf"{_WS}*({_CV}){_WS}+-{_WS}+({_CV}){_WS}*")
_FIND_RE = re.compile(rf"({_OPS}){_WS}*({_CV})")
_VALID_RE = re.compile(
    rf"({_WS}*({_OPS}){_WS}*({_CV}){_WS}*)((?:{_WS}+|,{_WS}*)({_OPS}){_WS}*({_CV}){_WS}*)*"
)
_UINT64 = 2**64


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""
    metadata: str = ""
    original: str = field(default="", compare=False)

    def compare(self, other: Version) -> int:
        """Masterminds ``Version.Compare``: -1, 0 or 1; build metadata is ignored."""
        mine, theirs = (self.major, self.minor, self.patch), (other.major, other.minor, other.patch)
        if mine != theirs:
            return -1 if mine < theirs else 1
        if self.prerelease == other.prerelease:
            return 0
        if not self.prerelease:
            return 1
        if not other.prerelease:
            return -1
        return _compare_prerelease(self.prerelease, other.prerelease)


def _valid_prerelease(text: str) -> bool:
    for part in text.split("."):
        if part.isdigit() and part.isascii():
            if len(part) > 1 and part[0] == "0":
                return False
        elif not re.fullmatch(r"[0-9A-Za-z-]+", part):
            return False
    return True


def parse_version(text: str) -> Version:
    """Masterminds ``NewVersion``; raises InvalidVersion."""
    m = _VERSION_RE.fullmatch(text)
    if m is None:
        raise InvalidVersion(f"{text!r} is not a semantic version")
    numbers = [int(m.group(1)), *(int(g[1:]) if g else 0 for g in (m.group(2), m.group(3)))]
    if any(n >= _UINT64 for n in numbers):
        raise InvalidVersion(f"{text!r} has a number too large for a version")
    pre = m.group(5) or ""
    if pre and not _valid_prerelease(pre):
        raise InvalidVersion(f"{text!r} has an invalid pre-release part")
    return Version(numbers[0], numbers[1], numbers[2], pre, m.group(8) or "", text)


def _compare_part(s: str, o: str) -> int:
    if s == o:
        return 0
    if not s:
        return -1
    if not o:
        return 1
    s_num, o_num = s.isdigit() and s.isascii(), o.isdigit() and o.isascii()
    if not s_num and not o_num:
        return 1 if s.encode() > o.encode() else -1
    if not o_num:
        return -1  # numbers rank below strings
    if not s_num:
        return 1
    return 1 if int(s) > int(o) else -1


def _compare_prerelease(v: str, o: str) -> int:
    sparts, oparts = v.split("."), o.split(".")
    for i in range(max(len(sparts), len(oparts))):
        s = sparts[i] if i < len(sparts) else ""
        t = oparts[i] if i < len(oparts) else ""
        d = _compare_part(s, t)
        if d:
            return d
    return 0


def _is_x(text: str) -> bool:
    return text in ("x", "X", "*")


@dataclass(frozen=True)
class _Comparator:
    op: str
    version: Version
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, v: Version, include_pre: bool) -> bool:
        if v.prerelease and not include_pre:
            return False
        return _OPERATORS[self.op](v, self)


def _not_equal(v: Version, c: _Comparator) -> bool:
    con = c.version
    if c.dirty:
        if con.major != v.major:
            return True
        if con.minor != v.minor and not c.minor_dirty:
            return True
        if c.minor_dirty:
            return False
        if con.patch != v.patch and not c.patch_dirty:
            return True
        if c.patch_dirty:
            if v.prerelease or con.prerelease:
                return _compare_prerelease(v.prerelease, con.prerelease) != 0
            return False
    return v.compare(con) != 0


def _greater(v: Version, c: _Comparator) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) == 1
    if v.major != con.major:
        return v.major > con.major
    if c.minor_dirty:
        return False
    if c.patch_dirty:
        return v.minor > con.minor
    return v.compare(con) == 1


def _less_equal(v: Version, c: _Comparator) -> bool:
    con = c.version
    if not c.dirty:
        return v.compare(con) <= 0
    if v.major > con.major:
        return False
    return not (v.major == con.major and v.minor > con.minor and not c.minor_dirty)


def _tilde(v: Version, c: _Comparator) -> bool:
    con = c.version
    if v.compare(con) < 0:
        return False
    if (con.major, con.minor, con.patch) == (0, 0, 0) and not c.minor_dirty and not c.patch_dirty:
        return True
    if v.major != con.major:
        return False
    return not (v.minor != con.minor and not c.minor_dirty)


def _tilde_or_equal(v: Version, c: _Comparator) -> bool:
    return _tilde(v, c) if c.dirty else v.compare(c.version) == 0


def _caret(v: Version, c: _Comparator) -> bool:
    con = c.version
    if v.compare(con) < 0:
        return False
    if con.major > 0 or c.minor_dirty:
        return v.major == con.major
    if v.major > 0:
        return False
    if con.minor > 0 or c.patch_dirty:
        return v.minor == con.minor
    if v.minor > 0:
        return False
    return v.patch == con.patch


_OPERATORS: dict[str, Callable[[Version, _Comparator], bool]] = {
    "": _tilde_or_equal,
    "=": _tilde_or_equal,
    "!=": _not_equal,
    ">": _greater,
    "<": lambda v, c: v.compare(c.version) < 0,
    ">=": lambda v, c: v.compare(c.version) >= 0,
    "=>": lambda v, c: v.compare(c.version) >= 0,
    "<=": _less_equal,
    "=<": _less_equal,
    "~": _tilde,
    "~>": _tilde,
    "^": _caret,
}


def _parse_comparator(text: str) -> _Comparator:
    m = _CONSTRAINT_RE.fullmatch(text)
    if m is None:
        raise InvalidVersion(f"improper constraint: {text}")
    major, minor, patch, pre = m.group(3), m.group(4) or "", m.group(5) or "", m.group(6) or ""
    ver, dirty, minor_dirty, patch_dirty = m.group(2), False, False, False
    if _is_x(major):
        ver, dirty = f"0.0.0{pre}", True
    elif not minor or _is_x(minor[1:]):
        ver, dirty, minor_dirty = f"{major}.0.0{pre}", True, True
    elif not patch or _is_x(patch[1:]):
        ver, dirty, patch_dirty = f"{major}{minor}.0{pre}", True, True
    try:
        version = parse_version(ver)
    except InvalidVersion as e:
        raise InvalidVersion(f"improper constraint: {text}") from e
    return _Comparator(m.group(1), version, dirty, minor_dirty, patch_dirty)


@dataclass(frozen=True)
class Constraints:
    """A parsed constraint: OR groups of AND-ed comparators."""

    text: str
    groups: tuple[tuple[_Comparator, ...], ...]

    def check(self, version: Version) -> bool:
        for group in self.groups:
            include_pre = any(c.version.prerelease for c in group)
            if all(c.check(version, include_pre) for c in group):
                return True
        return False


def _rewrite_ranges(text: str) -> str:
    for m in list(_RANGE_RE.finditer(text)):
        text = text.replace(m.group(0), f">= {m.group(1)}, <= {m.group(11)}", 1)
    return text


def parse_constraint(text: str) -> Constraints:
    """Masterminds ``NewConstraint``; raises UsageError for a constraint it rejects."""
    groups = []
    for segment in _rewrite_ranges(text).split("||"):
        if _VALID_RE.fullmatch(segment) is None:
            raise UsageError(
                f"invalid semver constraint {text!r}: improper constraint {segment.strip()!r}",
                hint="use e.g. '^1.2', '~1.2.3', '1.x', '>=1.0 <2.0' or '1.2.x-0' (pre-releases)",
                reason="bad-annotation",
            )
        try:
            groups.append(tuple(_parse_comparator(m.group(0)) for m in _FIND_RE.finditer(segment)))
        except InvalidVersion as e:
            raise UsageError(f"invalid semver constraint {text!r}: {e}") from e
    return Constraints(text, tuple(groups))


def sort_versions(tags: list[str]) -> list[tuple[str, Version]]:
    """The tags that parse, ascending; equal versions ordered by the tag string
    (``registry-scanner/pkg/tag/semver.go`` ``semverCollection.Less``)."""
    parsed = []
    for tag in tags:
        try:
            parsed.append((tag, parse_version(tag)))
        except InvalidVersion:
            continue

    def order(a: tuple[str, Version], b: tuple[str, Version]) -> int:
        d = a[1].compare(b[1])
        if d:
            return d
        return (a[0].encode() > b[0].encode()) - (a[0].encode() < b[0].encode())

    return sorted(parsed, key=cmp_to_key(order))
