"""Poll planning (which registry requests, deduplicated) and decisions, without a registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.core.imageupdater.annotations import parse_annotations
from pipeline.inspect.pins import Pin
from pipeline.poll.decide import decide, digest_queries, with_digest
from pipeline.poll.fetch import Answers, parse_created
from pipeline.poll.plan import (
    CONFIG,
    HEAD,
    TAGS,
    AliasTarget,
    first_round,
    imageupdater_request_estimate,
    metadata_round,
)

U = "argocd-image-updater.argoproj.io/"
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def target(app: str, entry: str, strategy: str = "digest", pin: Pin | None = None,
           **extra: str) -> AliasTarget:  # fmt: skip
    annotations = {U + "image-list": entry, U + "a.update-strategy": strategy}
    annotations.update({U + k: v for k, v in extra.items()})
    return AliasTarget(app, parse_annotations(annotations).image("a"), pin)


def test_identical_images_across_applications_are_one_query() -> None:
    targets = [
        target("argocd/one", "a=nginx:main"),
        target("argocd/two", "a=docker.io/library/nginx:main"),
        target("argocd/three", "a=ghcr.io/org/app:main"),
        target("argocd/four", "a=ghcr.io/org/app:^1.0", "semver"),
    ]
    queries = first_round(targets)
    assert sorted(str(q) for q in queries) == [
        "head docker.io/library/nginx:main",
        "head ghcr.io/org/app:main",
        "tags ghcr.io/org/app",
    ]


def test_newest_build_fetches_metadata_only_for_tags_it_keeps() -> None:
    t = target("argocd/x", "a=ghcr.io/org/app", "newest-build", **{"a.ignore-tags": "dev-*"})
    tags = {t.query(TAGS): ["v1", "v2", "dev-1", "dev-2"]}
    assert sorted(q.tag or "" for q in metadata_round([t], tags)) == ["v1", "v2"]
    assert all(q.kind == CONFIG and q.platform == "linux/amd64" for q in metadata_round([t], tags))


def test_digest_decision_update_and_unchanged() -> None:
    moved = target("argocd/x", "a=ghcr.io/org/app:main", pin=Pin("f", "r", None, D1))
    answers = Answers(digests={moved.query(HEAD, "main"): D2})
    decision = decide(moved, answers)
    assert decision.update and decision.chosen == f"ghcr.io/org/app:main@{D2}"
    same = target("argocd/x", "a=ghcr.io/org/app:main", pin=Pin("f", "r", None, D2))
    assert not decide(same, answers).update


def test_semver_update_gets_its_digest_and_same_digest_is_not_an_update() -> None:
    t = target("argocd/x", "a=ghcr.io/org/app:^1.0", "semver", pin=Pin("f", "r", None, D1))
    answers = Answers(tags={t.query(TAGS): ["1.0.0", "1.2.0", "2.0.0"]})
    decision = decide(t, answers)
    assert (decision.update, decision.tag, decision.digest) == (True, "1.2.0", None)
    queries = digest_queries({(t.app, "a"): t}, [decision])
    assert [str(q) for q in queries] == ["head ghcr.io/org/app:1.2.0"]
    answers.digests[t.query(HEAD, "1.2.0")] = D1
    assert not with_digest(t, decision, answers).update  # already pinned by that digest
    answers.digests[t.query(HEAD, "1.2.0")] = D2
    assert with_digest(t, decision, answers).chosen == f"ghcr.io/org/app:1.2.0@{D2}"


def test_newest_build_uses_created_dates() -> None:
    t = target("argocd/x", "a=ghcr.io/org/app", "newest-build")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    answers = Answers(
        tags={t.query(TAGS): ["a", "b"]},
        created={t.query(CONFIG, "a"): now + timedelta(hours=1), t.query(CONFIG, "b"): now},
    )
    assert decide(t, answers).tag == "a"


def test_registry_and_constraint_errors_are_per_alias() -> None:
    from pipeline.errors import RegistryError

    t = target("argocd/x", "a=ghcr.io/org/app:main")
    answers = Answers(
        errors={t.query(HEAD, "main"): RegistryError("denied", reason="registry-auth")}
    )
    decision = decide(t, answers)
    assert decision.error is not None and not decision.update
    assert decision.as_dict()["error"]["reason"] == "registry-auth"


def test_created_parsing_with_nanoseconds() -> None:
    assert parse_created("2026-01-02T03:04:05.123456789Z") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert parse_created("junk") is None and parse_created(None) is None


def test_imageupdater_estimate_counts_every_alias() -> None:
    targets = [target(f"argocd/{i}", "a=ghcr.io/org/app:main") for i in range(5)]
    targets += [target("argocd/n", "a=ghcr.io/org/nb", "newest-build")]
    repo = targets[-1].repository
    assert imageupdater_request_estimate(targets, {repo: 3}) == 5 + 1 + 6
    assert len(first_round(targets)) == 2
