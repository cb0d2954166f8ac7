"""A real sandbox API server plus the Argo CD controllers under test (no kubelet)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pipeline.sandbox.controllers.applicationset import ApplicationSetController
from pipeline.sandbox.controllers.argocd import ArgoCDController
from pipeline.sandbox.controllers.argocd_backoff import SelfHeal
from pipeline.sandbox.kubeclient import KubeClient
from pipeline.sandbox.sample import SampleRepo, create_sample_repo

T = TypeVar("T")
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
APPSETS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applicationsets"
DEPLOYMENTS = "/apis/apps/v1/namespaces/auth/deployments"
# selfHeal waits 0.2 s from the second attempt on (the real defaults are 2 s x3 up to 300 s)
FAST_HEAL = SelfHeal(backoff_seconds=0.2, backoff_factor=1.0, backoff_cap_seconds=0.2)


@dataclass
class ArgoHarness:
    kube: KubeClient
    sample: SampleRepo

    def app(self, name: str | None = None) -> dict[str, Any]:
        return self.kube.get(f"{APPS}/{name or self.sample.app_name}")

    def app_path(self, name: str | None = None) -> str:
        return f"{APPS}/{name or self.sample.app_name}"

    def deployment(self, name: str) -> dict[str, Any] | None:
        return self.kube.get_or_none(f"{DEPLOYMENTS}/{name}")


@pytest.fixture
def argo(tmp_path: Path) -> Iterator[ArgoHarness]:
    from pipeline.sandbox.apiserver import APIServer

    server = APIServer(port=0)
    server.start()
    stop = threading.Event()
    kube = KubeClient(server.url)
    sample = create_sample_repo(tmp_path / "sample", registry="127.0.0.1:5999")
    controllers = [
        ArgoCDController(kube, work_dir=tmp_path / "argocd", self_heal=FAST_HEAL),
        ApplicationSetController(kube),
    ]
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in controllers]
    for thread in threads:
        thread.start()
    try:
        yield ArgoHarness(kube, sample)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        server.stop()
