"""Run a round of registry queries concurrently and keep every answer (or error) by query.

One failing query (a bad credential reference, a missing tag, a 429 past the deadline) only
fails the aliases that need it; the cycle goes on. Concurrency is bounded like image-updater's
(``--max-concurrent-apps`` 10, section 7); per-registry pacing happens in the shared session.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.core.ports import Registries
from pipeline.errors import PipelineError, RegistryError
from pipeline.poll.plan import CONFIG, HEAD, TAGS, Query

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_created(text: object) -> datetime | None:
    """An image config's ``created`` (RFC 3339, nanoseconds allowed), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Answers:
    """Everything the registries said during one cycle, by query."""

    digests: dict[Query, str] = field(default_factory=dict)
    tags: dict[Query, list[str]] = field(default_factory=dict)
    created: dict[Query, datetime | None] = field(default_factory=dict)
    errors: dict[Query, PipelineError] = field(default_factory=dict)

    def error_for(self, *queries: Query) -> PipelineError | None:
        return next((self.errors[q] for q in queries if q in self.errors), None)


def _answer(query: Query, pool: Registries) -> object:
    client = pool.client(query.credential)
    if query.kind == HEAD:
        return client.head_digest(query.repository.with_tag(query.tag or "latest")).digest
    if query.kind == TAGS:
        return client.list_tags(query.repository)
    if query.kind == CONFIG:
        config = client.get_image_config(
            query.repository.with_tag(query.tag or "latest"), query.platform
        )
        return parse_created(config.get("created"))
    raise ValueError(f"unknown query kind {query.kind!r}")


def fetch(queries: set[Query], pool: Registries, answers: Answers, workers: int = 10) -> None:
    """Ask every query not answered yet; store results and errors in ``answers``."""
    todo = sorted(
        (q for q in queries if q not in answers.errors and not _known(q, answers)), key=str
    )

    def one(query: Query) -> tuple[Query, object]:
        try:
            return query, _answer(query, pool)
        except PipelineError as e:
            return query, e
        except Exception as e:  # a registry that answers junk must not stop the cycle
            return query, RegistryError(f"{query}: {type(e).__name__}: {e}")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo) or 1))) as executor:
        for query, result in executor.map(one, todo):
            if isinstance(result, PipelineError):
                answers.errors[query] = result
            elif query.kind == HEAD:
                answers.digests[query] = str(result)
            elif query.kind == TAGS:
                answers.tags[query] = list(result)  # type: ignore[call-overload]
            else:
                answers.created[query] = result  # type: ignore[assignment]


def _known(query: Query, answers: Answers) -> bool:
    return query in answers.digests or query in answers.tags or query in answers.created
