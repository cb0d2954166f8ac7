"""Per alias: is an update due, to which image, and why. Pure, over the cycle's answers.

The choice itself is image-updater's (pipeline/core/imageupdater/strategies.py ``select``); what is
"current" comes from the Application's pin (pipeline/inspect/pins.py), as image-updater reads
the Application rather than the pods. An alias pinned by digest only (deploy-canary writes
``repo@sha256:...``) has no current tag: a tag strategy then compares the chosen tag's digest
with the pinned one, so re-pinning the same image is never an update.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pipeline.core.imageupdater.strategies import Current, Strategy, TagInfo, select
from pipeline.errors import PipelineError
from pipeline.poll.fetch import Answers
from pipeline.poll.plan import CONFIG, HEAD, TAGS, AliasTarget, Query


@dataclass(frozen=True)
class AliasDecision:
    app: str
    alias: str
    strategy: str
    current: str  # what the Application pins, or "(not pinned)"
    update: bool = False
    tag: str | None = None
    digest: str | None = None
    chosen: str | None = None  # image to pin: repo:tag@digest
    reason: str = ""
    error: PipelineError | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alias": self.alias,
            "strategy": self.strategy,
            "current": self.current,
            "chosen": self.chosen,
            "update": self.update,
            "reason": self.reason,
        }
        if self.error is not None:
            out["error"] = {
                "reason": self.error.reason,
                "exit_code": int(self.error.exit_code),
                "message": self.error.message,
                "hint": self.error.hint,
            }
        return out


def _current(target: AliasTarget) -> Current:
    pin = target.pin
    return Current(pin.tag, pin.digest) if pin else Current()


def _failed(target: AliasTarget, base: AliasDecision, error: PipelineError) -> AliasDecision:
    return replace(base, update=False, reason=f"registry: {error.message}", error=error)


def decide(target: AliasTarget, answers: Answers) -> AliasDecision:
    """The decision from the first two rounds (the chosen digest may still be missing)."""
    config = target.config
    base = AliasDecision(
        target.app,
        config.alias,
        config.strategy.value,
        target.pin.image if target.pin else f"(not pinned) {config.image.full_name_with_tag}",
    )
    current = _current(target)
    if config.strategy is Strategy.DIGEST:
        query = target.query(HEAD, config.constraint)
        error = answers.error_for(query)
        if error is not None:
            return _failed(target, base, error)
        candidates = [TagInfo(config.constraint, answers.digests[query])]
    else:
        tags_query = target.query(TAGS)
        error = answers.error_for(tags_query)
        if error is not None:
            return _failed(target, base, error)
        tags = answers.tags[tags_query]
        if config.strategy is Strategy.NEWEST_BUILD:
            config_queries = {t: target.query(CONFIG, t) for t in tags}
            candidates = [
                TagInfo(t, created=answers.created.get(q)) for t, q in config_queries.items()
            ]
        else:
            candidates = [TagInfo(t) for t in tags]
    try:
        decision = select(
            config.strategy, current, candidates, config.constraint, config.tag_filter
        )
    except PipelineError as e:  # an invalid constraint: image-updater's one strategy error
        return replace(base, reason=e.message, error=e)
    chosen = None
    if decision.tag:
        chosen = f"{config.image.full_name}:{decision.tag}"
        chosen += f"@{decision.digest}" if decision.digest else ""
    return replace(
        base,
        update=decision.update,
        tag=decision.tag,
        digest=decision.digest,
        chosen=chosen,
        reason=decision.reason,
    )


def digest_queries(targets: dict[tuple[str, str], AliasTarget],
                   decisions: list[AliasDecision]) -> set[Query]:  # fmt: skip
    """HEADs of the chosen tags of tag-strategy updates (their digest is pinned)."""
    return {
        targets[(d.app, d.alias)].query(HEAD, d.tag)
        for d in decisions
        if d.update and d.digest is None and d.tag
    }


def with_digest(target: AliasTarget, decision: AliasDecision, answers: Answers) -> AliasDecision:
    """Complete a decision with the chosen tag's digest; drop updates that re-pin the same."""
    if not decision.update:
        return decision
    digest = decision.digest
    if digest is None and decision.tag:
        query = target.query(HEAD, decision.tag)
        error = answers.error_for(query)
        if error is not None:
            return _failed(target, decision, error)
        digest = answers.digests[query]
    pinned = target.pin.digest if target.pin else None
    if pinned and digest and pinned.lower() == digest.lower():
        return replace(
            decision,
            update=False,
            digest=digest,
            reason=f"{decision.tag} is already pinned by its digest {digest[:19]}",
        )
    chosen = f"{target.config.image.full_name}:{decision.tag}@{digest}"
    return replace(decision, digest=digest, chosen=chosen)
