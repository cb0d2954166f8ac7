"""Per-registry pacing, interval parsing and the refresh annotation, with fakes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.adapters.ratelimit import PacedSession, Pacer, default_rate, parse_rates
from pipeline.commands.poll import parse_interval
from pipeline.errors import DeployTimeoutError, UsageError
from pipeline.inspect.refresh import REFRESH, refresh_application


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pacer_spaces_requests_evenly() -> None:
    clock = FakeClock()
    pacer = Pacer(4.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.acquire()
    assert clock.now == pytest.approx(1.0)  # 5 requests at 4/s: the 5th starts at t=1s


def test_unlimited_pacer_never_waits() -> None:
    clock = FakeClock()
    pacer = Pacer(0, clock=clock, sleep=clock.sleep)
    assert [pacer.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]


def test_defaults_follow_image_updater_and_flags_override() -> None:
    assert default_rate("registry-1.docker.io") == 10.0
    assert default_rate("ghcr.io") == 20.0
    session = PacedSession(parse_rates(("ghcr.io=0",)))
    assert session.pacer("ghcr.io").rate == 0 and session.pacer("quay.io").rate == 20.0
    session.close()
    with pytest.raises(UsageError):
        parse_rates(("ghcr.io",))


@pytest.mark.parametrize(("text", "seconds"), [("2m", 120), ("30s", 30), ("90", 90), ("1h", 3600)])
def test_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


def test_bad_interval() -> None:
    with pytest.raises(UsageError):
        parse_interval("soon")


class FakeApps:
    """Records the patch; the watch replays the controller's later writes."""

    def __init__(self, later: list[dict[str, Any]]) -> None:
        self.later = later
        self.patches: list[dict[str, Any]] = []

    def patch_application(self, namespace: str, name: str, body: dict[str, Any]) -> Any:
        self.patches.append(body)
        return {"metadata": {"resourceVersion": "5", "annotations": {REFRESH: "hard"}}}

    def get_application(self, namespace: str, name: str) -> Any:
        return self.later[-1]

    def watch_application(self, namespace: str, name: str, rv: str, timeout: float) -> Any:
        apps = self

        class Stream:
            def __iter__(self) -> Iterator[tuple[str, Any]]:
                for obj in apps.later:
                    yield "MODIFIED", obj

            def stop(self) -> None:
                pass

        return Stream()


def test_refresh_patches_the_annotation_and_waits_for_its_removal() -> None:
    done = {"metadata": {"resourceVersion": "7", "annotations": {}},
            "status": {"reconciledAt": "2026-01-01T00:00:00Z"}}  # fmt: skip
    apps = FakeApps(
        [{"metadata": {"resourceVersion": "6", "annotations": {REFRESH: "hard"}}}, done]
    )
    result = refresh_application(apps, "argocd", "a", hard=True, wait=True, clock=FakeClock())
    assert apps.patches == [{"metadata": {"annotations": {REFRESH: "hard"}}}]
    assert (result.resource_version, result.reconciled_at) == ("7", "2026-01-01T00:00:00Z")


def test_refresh_wait_times_out_when_the_controller_never_reconciles() -> None:
    clock = FakeClock()

    class Stuck(FakeApps):
        def watch_application(self, namespace: str, name: str, rv: str, timeout: float) -> Any:
            clock.now += timeout  # the watch ran until its timeout without a change
            return iter(())

    with pytest.raises(DeployTimeoutError):
        refresh_application(Stuck([]), "argocd", "a", wait=True, timeout=5, clock=clock)
