"""allow-tags, ignore-tags and platforms: reference 6, vectors 27-28, plus 1.6."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.tagfilters import (
    Platform,
    TagFilter,
    compile_glob,
    is_ignored,
    parse_allow_tags,
    parse_ignore_tags,
    parse_platforms,
    wants_platform,
)


@pytest.mark.parametrize("text", ["any", "ANY", ""])
def test_allow_any(text: str) -> None:
    allow = parse_allow_tags(text)
    assert allow.allows("anything") and allow.allows_any


@pytest.mark.parametrize(
    "text", ["other", "not-regexp:a-z", "regexp:[aA-zZ", "regexp:(?=x)x", "regexp:(a)\\1"]
)
def test_allow_fails_closed(text: str) -> None:
    allow = parse_allow_tags(text)
    assert not allow.allows("MatchFuncRegexp-tag-name")
    assert allow.problem


@pytest.mark.parametrize("text", ["regexp:[aA-zZ]", "RegExp:[aA-zZ]"])
def test_allow_regexp(text: str) -> None:
    assert parse_allow_tags(text).allows("MatchFuncRegexp-tag-name")


def test_allow_regexp_is_unanchored() -> None:
    allow = parse_allow_tags("regexp:v1")
    assert allow.allows("prefix-v1-suffix")
    assert not parse_allow_tags("regexp:^v1$").allows("prefix-v1-suffix")


def test_ignore_globs() -> None:
    """Vector 28."""
    assert is_ignored("tag1", parse_ignore_tags("tag1,tag2"))
    assert not is_ignored("tag3", parse_ignore_tags("tag1,tag2"))
    patterns = parse_ignore_tags("tag?, foo")
    assert patterns == ("tag?", "foo")
    assert is_ignored("tag1", patterns) and is_ignored("foo", patterns)
    assert not is_ignored("tag10", patterns)


@pytest.mark.parametrize(
    ("glob", "tag", "matches"),
    [
        ("*", "anything", True),
        ("v[0-9].*", "v1.2", True),
        ("v[^0-9]*", "v1", False),
        ("v[^0-9]*", "vx", True),
        ("a\\*", "a*", True),
        ("a\\*", "ab", False),
        ("*-rc*", "1.0-rc1", True),
    ],
)
def test_go_filepath_match(glob: str, tag: str, matches: bool) -> None:
    assert is_ignored(tag, [glob]) is matches


@pytest.mark.parametrize("glob", ["[", "[]", "a\\", "[z-a]", "[a-"])
def test_malformed_glob_ignores_nothing(glob: str) -> None:
    assert compile_glob(glob) is None
    assert not is_ignored("a", [glob])


def test_tag_filter_combines_both() -> None:
    f = TagFilter(parse_allow_tags("regexp:^v"), ("v0*",))
    assert [t for t in ["v1", "v0.9", "x1"] if f.keeps(t)] == ["v1"]


def test_platforms() -> None:
    platforms = parse_platforms("linux/amd64, linux/arm64")
    assert platforms == (Platform("linux", "amd64"), Platform("linux", "arm64"))
    assert wants_platform(platforms, "linux", "arm64", "v8")  # variant relaxation (#711)
    assert wants_platform(platforms, "linux", "amd64")
    assert not wants_platform(platforms, "linux", "arm", "v7")
    assert not wants_platform(platforms, "unknown", "unknown")


def test_platform_variant_must_match_when_listed() -> None:
    platforms = parse_platforms("linux/arm/v7")
    assert wants_platform(platforms, "linux", "arm", "v7")
    assert not wants_platform(platforms, "linux", "arm", "v6")
    assert not wants_platform(platforms, "linux", "arm")


def test_malformed_platform_fails_closed() -> None:
    platforms = parse_platforms("linux")
    assert platforms[0].valid is False
    assert not wants_platform(platforms, "linux", "amd64")
    assert wants_platform((), "linux", "amd64")


def test_allow_regexp_that_does_not_compile_is_flagged_invalid() -> None:
    allow = parse_allow_tags("regexp:[a")
    assert allow.invalid_regexp and "missing ]" in allow.problem


def test_allow_regexp_cannot_backtrack_catastrophically() -> None:
    """``^(a+)+$`` on 'aaa...b' takes exponential time with backtracking; RE2 is linear. The
    bound is a count of work, not of time: 200 such tags, each 5000 characters long."""
    allow = parse_allow_tags("regexp:^(a+)+$")
    tags = ["a" * 5000 + "b"] * 200
    assert not any(allow.allows(t) for t in tags)
    assert allow.allows("a" * 5000)


def test_allow_regexp_has_go_syntax() -> None:
    """RE2 accepts Go's named groups and Unicode classes, and rejects Python-only syntax."""
    assert parse_allow_tags(r"regexp:^(?P<major>\d+)\.\pL").allows("1.x")
    assert parse_allow_tags("regexp:(?<=v)1").invalid_regexp
