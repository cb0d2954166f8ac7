"""Masterminds/semver v3.4.0 semantics (constraints_test.go / version_test.go cases)."""

from __future__ import annotations

import pytest

from pipeline.core.imageupdater.semver import parse_constraint, parse_version, sort_versions
from pipeline.errors import InvalidVersion, UsageError


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("1.2.3", (1, 2, 3, "", "")),
        ("v1.2.3", (1, 2, 3, "", "")),
        ("1.0", (1, 0, 0, "", "")),
        ("1", (1, 0, 0, "", "")),
        ("1.2.3-beta.1+build.5", (1, 2, 3, "beta.1", "build.5")),
        ("01.02.03", (1, 2, 3, "", "")),  # CoerceNewVersion keeps leading zeros (#266)
        ("v2.3.0-rc.0.18.g1abb7b5dd-ppc64le", (2, 3, 0, "rc.0.18.g1abb7b5dd-ppc64le", "")),
    ],
)
def test_parse_version(text: str, parts: tuple[int, int, int, str, str]) -> None:
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.metadata) == parts
    assert v.original == text


@pytest.mark.parametrize(
    "text", ["", "latest", "V1.2.3", "1.2.3.4", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "zz", "a1"]
)
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(InvalidVersion):
        parse_version(text)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("1.2.3", "1.2.4"),
        ("1.2.3-alpha", "1.2.3"),
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),
        ("1.0.0-rc10", "1.0.0-rc9"),  # identifiers compare as strings (issue #626)
        ("7.8.0-rc10", "7.8.0-rc9"),
        ("1.0.0-rc.1", "1.0.0"),
    ],
)
def test_compare_orders(low: str, high: str) -> None:
    assert parse_version(low).compare(parse_version(high)) == -1
    assert parse_version(high).compare(parse_version(low)) == 1


def test_metadata_is_ignored_when_comparing() -> None:
    assert parse_version("1.2.3+a").compare(parse_version("1.2.3+b")) == 0


@pytest.mark.parametrize(
    ("constraint", "version", "ok"),
    [
        ("^1.0", "1.1.2", True),
        ("^1.0", "2.0.3", False),
        ("^1.0", "1.2.0-beta", False),
        ("^1.2.3-beta", "1.5.0-alpha", True),  # a pre-release in the group admits all
        ("^0.2.3", "0.2.9", True),
        ("^0.2.3", "0.3.0", False),
        ("^0.0.3", "0.0.4", False),
        ("^0.0", "0.0.9", True),
        ("^0", "0.9.0", True),
        ("^0", "1.0.0", False),
        ("~1.0", "1.0.1", True),
        ("~1.0", "1.1.0", False),
        ("~1", "1.9.0", True),
        ("~1.2.3", "1.2.9", True),
        ("~1.2.3", "1.3.0", False),
        ("1.x", "1.9.9", True),
        ("1.x", "2.0.0", False),
        ("2.x-0", "2.0.0-rc1", True),
        ("2.x-0", "v2.0-rc1", True),
        ("*", "9.9.9", True),
        ("*", "1.0.0-rc1", False),
        ("1.2", "1.2.7", True),  # bare x.y is a tilde range
        ("=1.2.3", "1.2.3", True),
        ("1.2.3", "1.2.4", False),
        ("!=1.2.3", "1.2.4", True),
        ("!=1.x", "1.5.0", False),
        (">1.2", "1.2.9", False),
        (">1.2", "1.3.0", True),
        (">11", "11.1.0", False),
        ("<=1.2", "1.2.9", True),
        ("<=1.2", "1.3.0", False),
        (">= 1.1, < 2", "1.5.0", True),
        (">= 1.1 < 2", "2.0.0", False),
        ("1.1 - 2", "2.0.0", True),
        ("1.1 - 2", "3.0.0", False),
        ("<1.0 || >=3.0", "3.1.0", True),
        ("<1.0 || >=3.0", "2.0.0", False),
        ("=>1.0, =<2.0", "1.5.0", True),
        ("~>1.2", "1.2.8", True),
    ],
)
def test_constraint_check(constraint: str, version: str, ok: bool) -> None:
    assert parse_constraint(constraint).check(parse_version(version)) is ok


@pytest.mark.parametrize("constraint", ["latest", "", "^", "1.2.3.4", ">= foo", "1 ||", "a1"])
def test_invalid_constraints_are_errors(constraint: str) -> None:
    with pytest.raises(UsageError):
        parse_constraint(constraint)


def test_sort_breaks_ties_by_the_original_string() -> None:
    """Vector 19 (tag_test.go): equal versions ordered by string."""
    tags = ["v2.0.2", "v1.0", "v2.0.0", "v1.0.1", "v2.0.3", "v2.0", "not-a-version"]
    assert [t for t, _ in sort_versions(tags)] == [
        "v1.0",
        "v1.0.1",
        "v2.0",
        "v2.0.0",
        "v2.0.2",
        "v2.0.3",
    ]
