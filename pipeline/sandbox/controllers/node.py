"""What every pod on the sandbox node shares, and the kubelet's small value helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.sandbox.controllers.backoff import Backoff
from pipeline.sandbox.controllers.containers import Runtime
from pipeline.sandbox.controllers.eventrecorder import EventRecorder
from pipeline.sandbox.controllers.imagepull import ImageResolver, ResolvedImage
from pipeline.sandbox.controllers.podlogs import LogPublisher
from pipeline.sandbox.kubeclient import KubeClient


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole seconds and sub-second values: 10s, 5m0s, 500ms."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@dataclass
class NodeContext:
    """What every pod on the node shares."""

    client: KubeClient
    runtime: Runtime
    resolver: ImageResolver
    recorder: EventRecorder
    logs: LogPublisher
    crash_backoff: Backoff
    pull_backoff: Backoff
    clock: Callable[[], float]
    instance: str
    images: dict[str, ResolvedImage] = field(default_factory=dict)
    images_lock: threading.Lock = field(default_factory=threading.Lock)


class ContainerWaiting(Exception):
    """Stop this container's sync in a waiting state; look again after ``delay``."""

    def __init__(self, reason: str, message: str, delay: float | None) -> None:
        super().__init__(message)
        self.reason, self.message, self.delay = reason, message, delay
