"""The four strategies over registry data: reference 6, vectors 11-26, plus edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.core.imageupdater.strategies import (
    Current,
    Decision,
    RegistryNeeds,
    Strategy,
    TagInfo,
    parse_strategy,
    registry_needs,
    select,
)
from pipeline.core.imageupdater.tagfilters import TagFilter, parse_allow_tags
from pipeline.errors import UsageError

R = ["0.1", "0.5.1", "0.9", "1.0", "1.0.1", "1.1.2", "2.0.3"]
D1 = "sha256:" + "1234567890abcdef" * 4
D2 = "sha256:" + "fedcba0987654321" * 4


def tags(*names: str) -> list[TagInfo]:
    return [TagInfo(n) for n in names]


def semver(names: list[str], constraint: str, current: str | None = "0.1") -> Decision:
    return select(Strategy.SEMVER, Current(tag=current), tags(*names), constraint)


@pytest.mark.parametrize(
    ("names", "constraint", "chosen"),
    [
        (R, "", "2.0.3"),  # 11
        (R, "^1.0", "1.1.2"),  # 12
        (R, "~1.0", "1.0.1"),  # 13
        (["0.1", "0.5.1", "0.9", "2.0.3"], "~1.0", None),  # 14
        (["v2.2.0", "v2.3.0-rc.0.18.g1abb7b5dd-ppc64le"], "", "v2.2.0"),  # 16
        (["zz", "bb", "yy", "cc", "aa", "ll"], "", None),  # 17
        (["v2.0-rc1", "v1.9"], "2.x-0", "v2.0-rc1"),  # 20
        (["7.8.0-rc9", "7.8.0-rc10"], "7.8.x-0", "7.8.0-rc9"),  # 20, rc9 > rc10
    ],
)
def test_semver_vectors(names: list[str], constraint: str, chosen: str | None) -> None:
    decision = semver(names, constraint, current="0.0.1")
    assert decision.tag == chosen
    assert decision.update is (chosen is not None)


def test_semver_invalid_constraint_is_an_error() -> None:
    """Vector 15."""
    with pytest.raises(UsageError, match="latest"):
        semver(["0.1", "0.5.1", "0.9", "2.0.3"], "latest")


def test_semver_current_tag_need_not_be_a_version() -> None:
    """Vector 18: 'latest' is updated to 1.1.2 under ^1.0."""
    decision = semver(R, "^1.0", current="latest")
    assert (decision.update, decision.tag) == (True, "1.1.2")


def test_semver_no_update_when_current_is_the_highest() -> None:
    decision = semver(R, "^1.0", current="1.1.2")
    assert (decision.update, decision.tag) == (False, "1.1.2")


def test_semver_moves_to_the_highest_match_even_if_lower_than_current() -> None:
    """needsUpdate compares tag names only, so an out-of-range current tag is replaced."""
    decision = semver(R, "^1.0", current="3.0.0")
    assert (decision.update, decision.tag) == (True, "1.1.2")


def test_newest_build_by_created_date() -> None:
    """Vector 21: the second 'yy' overwrites the first."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    names = ["zz", "bb", "yy", "cc", "yy", "aa", "ll"]
    infos = [TagInfo(n, created=start + timedelta(seconds=5 * i)) for i, n in enumerate(names)]
    decision = select(Strategy.NEWEST_BUILD, Current(tag="zz"), infos)
    assert (decision.update, decision.tag) == (True, "ll")


def test_newest_build_ties_broken_by_tag_name() -> None:
    """Vector 22, and the documented 'latest' beats 'f33bacd' on the same build."""
    same = datetime(2024, 1, 1, tzinfo=UTC)
    infos = [TagInfo(n, created=same) for n in ["v2.0.2", "v1.0", "v1.0.1", "v2.0.3", "v2.0"]]
    assert select(Strategy.NEWEST_BUILD, Current(), infos).tag == "v2.0.3"
    pair = [TagInfo("latest", created=same), TagInfo("f33bacd", created=same)]
    assert select(Strategy.NEWEST_BUILD, Current(), pair).tag == "latest"


def test_newest_build_drops_tags_without_metadata() -> None:
    old = datetime(2024, 1, 1, tzinfo=UTC)
    infos = [TagInfo("old", created=old), TagInfo("wrong-platform", created=None)]
    assert select(Strategy.NEWEST_BUILD, Current(), infos).tag == "old"


def test_alphabetical() -> None:
    """Vector 23."""
    decision = select(
        Strategy.ALPHABETICAL, Current(tag="aa"), tags(*["zz", "bb", "yy", "cc", "yy", "aa", "ll"])
    )
    assert (decision.update, decision.tag) == (True, "zz")


def test_alphabetical_is_byte_order() -> None:
    assert select(Strategy.ALPHABETICAL, Current(), tags("Z", "a", "B")).tag == "a"


def test_digest_updates_when_the_live_image_has_no_digest_then_settles() -> None:
    """Vector 24: first run updates, second run with the same digest does not."""
    watched = [TagInfo("latest-bookworm", digest=D1)]
    first = select(Strategy.DIGEST, Current(tag="latest-bookworm"), watched, "latest-bookworm")
    assert (first.update, first.tag, first.digest) == (True, "latest-bookworm", D1)
    again = select(Strategy.DIGEST, Current("latest-bookworm", D1), watched, "latest-bookworm")
    assert again.update is False


def test_digest_bare_digest_live_image_is_up_to_date() -> None:
    """Vector 25: live 'nginx@<d>' with no tag, registry <d>: no update, tag kept."""
    decision = select(Strategy.DIGEST, Current(None, D1), [TagInfo("develop", D1)], "develop")
    assert (decision.update, decision.tag) == (False, "develop")


def test_digest_changed() -> None:
    decision = select(Strategy.DIGEST, Current("main", D1), [TagInfo("main", D2)], "main")
    assert (decision.update, decision.digest) == (True, D2)


def test_digest_without_a_tag_is_an_error() -> None:
    """Vector 26."""
    with pytest.raises(UsageError, match="cannot use update strategy 'digest'"):
        select(Strategy.DIGEST, Current(), [TagInfo("main", D1)], "")


def test_digest_watched_tag_missing_is_no_update() -> None:
    decision = select(Strategy.DIGEST, Current(), [], "main")
    assert decision.update is False
    assert "not in the registry" in decision.reason


def test_digest_watched_tag_filtered_out_is_no_update() -> None:
    ignore_all = TagFilter(ignore=("*",))
    decision = select(Strategy.DIGEST, Current(), [TagInfo("main", D1)], "main", ignore_all)
    assert decision.update is False


def test_filters_apply_before_selection() -> None:
    only_v1 = TagFilter(parse_allow_tags("regexp:^1\\."), ("1.1.*",))
    decision = select(Strategy.SEMVER, Current(), tags(*R), "", only_v1)
    assert decision.tag == "1.0.1"


def test_bad_allow_tags_fails_closed() -> None:
    closed = TagFilter(parse_allow_tags("regexp:[aA-zZ"))
    decision = select(Strategy.ALPHABETICAL, Current(), tags("a", "b"), "", closed)
    assert (decision.update, decision.tag) == (False, None)
    assert "does not compile" in decision.reason


@pytest.mark.parametrize(
    ("text", "strategy", "deprecated"),
    [
        ("semver", Strategy.SEMVER, False),
        ("SemVer", Strategy.SEMVER, False),
        ("newest-build", Strategy.NEWEST_BUILD, False),
        ("latest", Strategy.NEWEST_BUILD, True),
        ("alphabetical", Strategy.ALPHABETICAL, False),
        ("name", Strategy.ALPHABETICAL, True),
        ("DIGEST", Strategy.DIGEST, False),
    ],
)
def test_parse_strategy(text: str, strategy: Strategy, deprecated: bool) -> None:
    parsed, warning = parse_strategy(text)
    assert parsed is strategy
    assert bool(warning) is deprecated


@pytest.mark.parametrize("text", ["newest", "lastest", "sem-ver", "tag"])
def test_unknown_strategy_is_an_error_not_semver(text: str) -> None:
    with pytest.raises(UsageError, match="unknown update strategy"):
        parse_strategy(text)


def test_registry_needs_the_minimum() -> None:
    assert registry_needs(Strategy.DIGEST, "main") == RegistryNeeds(False, "main", False)
    assert registry_needs(Strategy.SEMVER, "^1") == RegistryNeeds(True, None, False)
    assert registry_needs(Strategy.ALPHABETICAL, "") == RegistryNeeds(True, None, False)
    assert registry_needs(Strategy.NEWEST_BUILD, "") == RegistryNeeds(True, None, True)
