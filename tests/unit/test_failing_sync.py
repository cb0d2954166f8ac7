"""Telling a failing Argo CD sync from one in progress (core/sync.py failing_sync)."""

from __future__ import annotations

import pytest

from pipeline.core.sync import failing_sync

CRD = 'Make sure the "DestinationRule" CRD is installed on the destination cluster.'


@pytest.mark.parametrize(
    ("state", "failing"),
    [
        ({"phase": "Failed", "message": CRD}, CRD),
        ({"phase": "Error", "message": "ComparisonError: x"}, "ComparisonError: x"),
        ({"phase": "Running", "message": f"{CRD}. Retrying attempt #2 at 3:04PM."},
         f"{CRD}. Retrying attempt #2 at 3:04PM."),
        ({"phase": "Running", "message": "one or more tasks are running"}, ""),
        ({"phase": "Succeeded", "message": "successfully synced"}, ""),
        (None, ""),
    ],
)  # fmt: skip
def test_a_failed_or_retrying_sync_is_failing(state: dict[str, str] | None, failing: str) -> None:
    assert failing_sync({"status": {"operationState": state}}) == failing
