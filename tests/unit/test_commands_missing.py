"""A missing Application or namespace, as status, refresh and cleanup-canary's ``run`` see it
behind fakes of the ports: exit 7, the object and the fix named."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest

from pipeline.commands import cleanup, refresh, status
from pipeline.config import AppTarget, ConfigFile, targets
from pipeline.core.settings import DeploySettings, KubeSettings, RegistrySettings, RunSettings
from pipeline.errors import ExitCode, KubeAccessError
from pipeline.report.text import TextReporter
from pipeline.wiring import KubeClients
from tests.unit.fake_argocd import FakeApplications, FakeCluster


@dataclass(frozen=True)
class FakeKube(KubeClients):
    namespaces: frozenset[str] = frozenset({"argocd"})

    def namespace_exists(self, name: str) -> bool | None:
        return name in self.namespaces

    def list_applications(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        return []


def kube(namespaces: frozenset[str] = frozenset({"argocd"})) -> FakeKube:
    fake: Any = FakeApplications(None)
    return FakeKube(
        fake, FakeCluster([]), None, "https://cluster", "kubeconfig", namespaces=namespaces
    )


TARGET = AppTarget("dev-api-auth", "argocd", "auth")
APP_FIX = "`kubectl -n argocd get applications` lists them"
NS_FIX = "pass --argocd-namespace (or argocd_namespace: in pipeline.yaml)"


@pytest.mark.parametrize(
    ("namespaces", "message", "fix", "reason"),
    [
        (frozenset({"argocd"}), "Application argocd/dev-api-auth does not exist on "
         "https://cluster", APP_FIX, "application-not-found"),
        (frozenset(), "namespace argocd does not exist on https://cluster (looking for "
         "Application dev-api-auth)", NS_FIX, "namespace-not-found"),
    ],
)  # fmt: skip
def test_status_and_refresh_name_what_is_missing(
    namespaces: frozenset[str], message: str, fix: str, reason: str
) -> None:
    commands = [
        lambda k: status.run(
            status.StatusCommand((TARGET,), (), KubeSettings(), RegistrySettings(), "text"),
            k, None,
        ),
        lambda k: refresh.run(
            refresh.RefreshCommand(TARGET, False, False, 1.0, KubeSettings(), "text"), k
        ),
    ]  # fmt: skip
    for command in commands:
        with pytest.raises(KubeAccessError) as caught:
            command(kube(namespaces))
        assert caught.value.exit_code == ExitCode.KUBE_ACCESS
        assert (caught.value.message, caught.value.reason) == (message, reason)
        assert fix in caught.value.hint


def test_cleanup_reports_a_missing_application_as_a_failed_service(
    capsys: pytest.CaptureFixture[str],
) -> None:
    services = targets(("auth",), {"image": "127.0.0.1:5000/eco2"}, ConfigFile())
    command = cleanup.CleanupCommand(
        DeploySettings(services=services, run=RunSettings(run_id="cleanup-t")),
        KubeSettings(),
        "text",
    )
    code = cleanup.run(command, kube(), TextReporter(io.StringIO()))
    err = capsys.readouterr().err
    assert code == ExitCode.KUBE_ACCESS
    assert "[auth] failed: Application argocd/dev-api-auth does not exist on https://cluster" in err
    assert APP_FIX in err
