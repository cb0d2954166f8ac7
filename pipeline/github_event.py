"""What a ``pull_request`` event asks the canary workflow to do: deploy, clean up, or skip.

Pure decision over the event payload GitHub writes to ``$GITHUB_EVENT_PATH``
(docs.github.com "Webhook events and payloads", ``pull_request``): ``action``, ``label``
(labeled/unlabeled only), ``pull_request.{number, labels, head, base, merged}``. Kept out of the
workflow YAML so it is tested code, not ``if:`` expressions:

- ``labeled`` with our label, or ``synchronize`` of a PR carrying it: **deploy** the head SHA
  (``pull_request.head.sha``, not ``GITHUB_SHA``, which is the test merge commit).
- ``unlabeled`` of our label, or ``closed`` while carrying it: **cleanup**.
- Anything else (another label, a PR without the label): **none**.
- A deploy or cleanup without the secrets it needs: **skip**, with the reason. PRs from forks
  get no secrets on ``pull_request`` ("Using secrets in GitHub Actions": secrets are not passed
  to workflows triggered by a pull request from a fork); that is a skip, not a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEPLOY, CLEANUP, NONE, SKIP = "deploy", "cleanup", "none", "skip"


@dataclass(frozen=True)
class EventDecision:
    action: str  # deploy | cleanup | none | skip
    reason: str
    pr: str = ""
    head_sha: str = ""
    base_sha: str = ""
    fork: bool = False


def _labels(pr: Mapping[str, Any]) -> set[str]:
    return {str(label.get("name", "")) for label in pr.get("labels") or []}


def decide(event: Mapping[str, Any], label: str, secrets_present: bool) -> EventDecision:
    """Decide from one ``pull_request`` event payload; ``label`` is the canary label's name."""
    pr = event.get("pull_request") or {}
    action = str(event.get("action", ""))
    head, base = pr.get("head") or {}, pr.get("base") or {}
    head_repo = (head.get("repo") or {}).get("full_name")
    base_repo = (base.get("repo") or {}).get("full_name")
    fork = bool(head_repo and base_repo and head_repo != base_repo)

    def make(decided: str, reason: str) -> EventDecision:
        return EventDecision(
            decided,
            reason,
            pr=str(pr.get("number", "")),
            head_sha=str(head.get("sha", "")),
            base_sha=str(base.get("sha", "")),
            fork=fork,
        )

    event_label = str((event.get("label") or {}).get("name", ""))
    carries = label in _labels(pr)
    if not pr:
        return make(NONE, "not a pull_request event")
    if action == "labeled" and event_label == label:
        wanted, why = DEPLOY, f"label {label!r} added"
    elif action == "synchronize" and carries:
        wanted, why = DEPLOY, f"new commits on a PR labelled {label!r}"
    elif action == "reopened" and carries:
        wanted, why = DEPLOY, f"PR labelled {label!r} reopened"
    elif action == "unlabeled" and event_label == label:
        wanted, why = CLEANUP, f"label {label!r} removed"
    elif action == "closed" and carries:
        state = "merged" if pr.get("merged") else "closed"
        wanted, why = CLEANUP, f"PR labelled {label!r} {state}"
    else:
        what = f"label {event_label!r} {action}" if event_label else action
        return make(NONE, f"{what}: nothing to do for label {label!r}")
    if not secrets_present:
        source = "a fork" if fork else "this repository"
        done = "deployed" if wanted == DEPLOY else "cleaned up"
        return make(
            SKIP,
            f"{why}, but this run has no deploy secrets (PR from {source}); "
            f"the canary was not {done}",
        )
    return make(wanted, why)
