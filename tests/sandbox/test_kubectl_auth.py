"""The stock kubectl with a ServiceAccount token against the sandbox's TLS listener.

kubectl sends kubeconfig credentials only over TLS (client-go ``clientcmd`` sets the bearer
token only for TLS transports; kubernetes/kubectl#744), so these tests start the API server
with a certificate from ``pipeline.services.tls``. The admin kubeconfig uses the plain port.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.sandbox.apiserver import APIServer
from pipeline.services.tls import create_ca, issue_server_cert
from pipeline.tools import kubectl_path

pytestmark = pytest.mark.integration

SA_USER = "system:serviceaccount:ci:deployer"
APPLICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: auth, namespace: argocd}
spec: {project: default, source: {repoURL: /git}}
"""


def kubeconfig(path: Path, server: str, ca: Path, user: str) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: sandbox\n  cluster: {{server: '{server}', "
        f"certificate-authority: '{ca}'}}\n"
        f"users:\n- name: u\n  user: {user}\n"
        "contexts:\n- name: sandbox\n  context: {cluster: sandbox, user: u}\n"
        "current-context: sandbox\n"
    )
    return path


@dataclass
class Kubectl:
    config: Path

    def __call__(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [kubectl_path(), f"--kubeconfig={self.config}", "--request-timeout=20s", *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, input=stdin, check=False
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result


@dataclass
class Clients:
    admin: Kubectl
    deployer: Kubectl


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[Clients]:
    ca = create_ca(tmp_path / "pki")
    srv = APIServer(tls=issue_server_cert(ca, tmp_path / "pki"), root_ca=ca.cert_path.read_bytes())
    srv.start()
    admin = Kubectl(kubeconfig(tmp_path / "admin", srv.url, ca.cert_path, "{}"))
    admin("create", "namespace", "ci")
    admin("create", "serviceaccount", "deployer", "-n", "ci")
    admin("create", "-f", "-", stdin=APPLICATION)
    token = admin("create", "token", "deployer", "-n", "ci").stdout.strip()
    user = f"{{token: '{token}'}}"
    deployer = Kubectl(kubeconfig(tmp_path / "deployer", srv.secure_url, ca.cert_path, user))
    yield Clients(admin, deployer)
    srv.stop()


def test_token_identifies_the_service_account(clients: Clients) -> None:
    lines = clients.deployer("auth", "whoami").stdout.splitlines()
    assert lines[1].split() == ["Username", SA_USER]
    assert "[system:serviceaccounts system:serviceaccounts:ci system:authenticated]" in lines[3]


def test_can_i_follows_the_role_binding(clients: Clients) -> None:
    can_i = ("auth", "can-i", "patch", "applications", "-n", "argocd")
    denied = clients.deployer(*can_i, check=False)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    clients.admin(
        "create", "role", "deploy-canary", "-n", "argocd",
        "--verb=get,list,watch,patch", "--resource=applications.argoproj.io",
    )  # fmt: skip
    clients.admin(
        "create", "rolebinding", "deploy-canary", "-n", "argocd",
        "--role=deploy-canary", "--serviceaccount=ci:deployer",
    )  # fmt: skip
    assert clients.deployer(*can_i).stdout.strip() == "yes"
    other_ns = clients.deployer(
        "auth", "can-i", "patch", "applications", "-n", "default", check=False
    )
    assert other_ns.stdout.strip() == "no"
    as_sa = clients.admin(*can_i, f"--as={SA_USER}")
    assert as_sa.stdout.strip() == "yes"


def test_forbidden_patch_shows_the_real_error(clients: Clients) -> None:
    clients.admin(
        "create", "role", "reader", "-n", "argocd",
        "--verb=get,list,watch", "--resource=applications.argoproj.io",
    )  # fmt: skip
    clients.admin(
        "create", "rolebinding", "reader", "-n", "argocd", "--role=reader",
        "--serviceaccount=ci:deployer",
    )  # fmt: skip
    assert clients.deployer("get", "app", "auth", "-n", "argocd", "-o", "name").stdout == (
        "application.argoproj.io/auth\n"
    )
    patch = clients.deployer(
        "patch", "app", "auth", "-n", "argocd", "--type=merge", "-p", '{"spec":{"project":"x"}}',
        check=False,
    )  # fmt: skip
    assert patch.returncode == 1
    assert patch.stderr.strip() == (
        'Error from server (Forbidden): applications.argoproj.io "auth" is forbidden: User '
        f'"{SA_USER}" cannot patch resource "applications" in API group "argoproj.io" in the '
        'namespace "argocd"'
    )
    pods = clients.deployer("get", "pods", "-n", "auth", check=False)
    assert pods.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{SA_USER}" cannot list '
        'resource "pods" in API group "" in the namespace "auth"'
    )


def test_legacy_token_secret_carries_the_root_ca(clients: Clients) -> None:
    clients.admin("create", "-f", "-", stdin=(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/service-account-token\n"
        "metadata:\n  name: deployer-token\n  namespace: ci\n"
        "  annotations: {kubernetes.io/service-account.name: deployer}\n"
    ))  # fmt: skip
    keys = clients.admin(
        "get", "secret", "deployer-token", "-n", "ci", "-o", "jsonpath={.data}"
    ).stdout
    assert all(f'"{k}"' in keys for k in ("ca.crt", "namespace", "token"))
