"""Numbers from flags, ``PIPELINE_*`` and pipeline.yaml, checked before anything connects.

``float("nan")``, ``inf``, ``0`` and negative values parse as floats; none of them is a
timeout, and a negative settle time or restart count means nothing. Each is refused naming the
option (pipeline/config.py calls these for every command that takes them).
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.errors import UsageError


def _number(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number, not {value!r}") from None
    if math.isnan(number) or math.isinf(number):
        raise UsageError(f"{name} must be a finite number of seconds, not {value!r}")
    return number


def positive_seconds(name: str, value: Any) -> float:
    """A timeout: finite and above zero."""
    number = _number(name, value)
    if number <= 0:
        raise UsageError(
            f"{name} must be more than 0 seconds, not {value!r}", hint=f"e.g. {name} 300"
        )
    return number


def non_negative_seconds(name: str, value: Any) -> float:
    """A wait that may be zero (``settle``)."""
    number = _number(name, value)
    if number < 0:
        raise UsageError(f"{name} must be 0 or more seconds, not {value!r}")
    return number


def non_negative_count(name: str, value: Any) -> int:
    """A count (``crashloop_restarts``): a whole number, 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        raise UsageError(f"{name} must be 0 or more, not {value!r}")
    return value
