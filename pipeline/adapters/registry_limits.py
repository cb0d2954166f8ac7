"""Rate limits: ``Retry-After`` on a 429 and Docker Hub's ``ratelimit-*`` headers.

``Retry-After`` is either delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). Docker Hub
reports pull limits as ``ratelimit-limit: 100;w=21600`` and ``ratelimit-remaining: 76;w=21600``
(window in seconds) and answers 429 ``TOOMANYREQUESTS`` past the limit; a HEAD manifest request
does not count as a pull (docs.docker.com ``docker-hub/usage/pulls``).
"""

from __future__ import annotations

import datetime
import email.utils
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.core.ports import RateLimit


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait (never negative), or None when absent or unreadable.

    ``now`` is the wall-clock time (``time.time()``) an HTTP-date is compared with.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


def _quota(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    number, _, rest = value.partition(";")
    window = None
    for param in rest.split(";"):
        key, _, val = param.strip().partition("=")
        if key == "w" and val.isdigit():
            window = int(val)
    return (int(number) if number.strip().isdigit() else None), window


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """A RateLimit when the response carries ``ratelimit-limit`` or ``ratelimit-remaining``."""
    limit, window = _quota(headers.get("ratelimit-limit"))
    remaining, remaining_window = _quota(headers.get("ratelimit-remaining"))
    if limit is None and remaining is None:
        return None
    return RateLimit(
        limit=limit,
        remaining=remaining,
        window_seconds=window or remaining_window,
        source=headers.get("docker-ratelimit-source"),
    )


@dataclass
class RegistryStats:
    """What a RegistryClient did: requests by (method, kind), limits seen, time waited.

    Kinds: ``ping``, ``manifest``, ``tags``, ``blob``, ``token``.
    """

    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    throttled: int = 0
    waited_seconds: float = 0.0

    def count(self, method: str, kind: str) -> int:
        return self.requests[(method, kind)]
