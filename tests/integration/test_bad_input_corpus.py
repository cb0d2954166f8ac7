"""Every subcommand against a corpus of bad inputs, as a user runs it: the documented exit code,
stderr naming the input and the fix, and never a traceback (docs/exit-codes.md).

The cases that need no API server run against files in a temporary directory; the others
against the session's sandbox. Each batch runs its subprocesses concurrently once, and every
case is then its own test, so a failure names its case.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.errors import ExitCode
from pipeline.sandbox.kubeclient import resource_path
from tests.fixtures.sandbox import SandboxHandle

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "ab" * 32
IMAGE = "127.0.0.1:5000/corpus"
# every subcommand that talks to a cluster, with arguments that are otherwise good
KUBE_COMMANDS = {
    "deploy-dry": ["deploy-canary", "-s", "auth", "--image", IMAGE, "--dry-run"],
    "deploy": ["deploy-canary", "-s", "auth", "--image", IMAGE],
    "status": ["status", "-s", "auth"],
    "refresh": ["refresh", "--app", "dev-api-auth"],
    "poll": ["poll", "--once"],
    "cleanup": ["cleanup-canary", "-s", "auth", "--image", IMAGE],
}
CONFIG_COMMANDS = {
    **KUBE_COMMANDS,
    "detect-changes": ["detect-changes", "--base", "HEAD", "--repo", "{repo}"],
    "render": ["render", "rbac"],
}
KUBECONFIG_FIX = "KUBECONFIG (or --kubeconfig)"


@dataclass(frozen=True)
class Case:
    """``args`` run in a directory holding ``files``; ``{tmp}``, ``{port}`` and ``{repo}`` are
    filled in. ``names``: what stderr must contain (the input and the fix)."""

    id: str
    args: list[str]
    code: int
    names: tuple[str, ...]
    files: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()


GOOD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:{port}"}}]
users: [{name: u, user: {}}]
contexts: [{name: corpus, context: {cluster: c, user: u}}]
current-context: corpus
"""


def offline_cases() -> Iterator[Case]:
    kubeconfigs = {
        "missing-kubeconfig": (
            (), "{tmp}/nope/kubeconfig", 7,
            ("no usable kubeconfig ({tmp}/nope/kubeconfig): the file does not exist",
             KUBECONFIG_FIX),
        ),
        "broken-kubeconfig": (
            (("kubeconfig", "clusters: [\n"),), "{tmp}/kubeconfig", 7,
            ("no usable kubeconfig ({tmp}/kubeconfig): not readable YAML", "fix {tmp}/kubeconfig"),
        ),
        "wrong-context": (
            (("kubeconfig", GOOD_KUBECONFIG),), "{tmp}/kubeconfig", 7,
            ("context 'prod' (--kube-context) is not defined",
             "pass --kube-context one of: corpus"),
        ),
        "unreachable": (  # a Dockerfile: deploy checks its build files before connecting
            (("kubeconfig", GOOD_KUBECONFIG), ("Dockerfile", "FROM scratch\n")),
            "{tmp}/kubeconfig", 7,
            ("API server unreachable", "names the API server http://127.0.0.1:{port}",
             "check the address"),
        ),
    }  # fmt: skip
    for name, args in KUBE_COMMANDS.items():
        for problem, (files, kubeconfig, code, names) in kubeconfigs.items():
            extra = ["--kube-context", "prod"] if problem == "wrong-context" else []
            yield Case(
                f"{name}-{problem}", [*args, "--kubeconfig", kubeconfig, *extra], code, names,
                files,
            )  # fmt: skip
    configs = {
        "config-not-mapping": ("- auth\n", "is not a mapping (it holds a list)"),
        "config-broken-yaml": ("services: [auth\n", "is not valid YAML (line 2, column 1)"),
        "config-unknown-key": ("services: [auth]\ncolour: red\n", "unknown key 'colour'"),
        "config-unknown-service-key": (
            "services: [{name: auth, colour: red}]\n",
            "unknown key 'colour' in service 'auth'",
        ),
        "config-wrong-type": ("services: [auth]\ntimeout: soon\n", "'timeout' must be a number"),
    }
    for name, args in CONFIG_COMMANDS.items():
        for problem, (text, named) in configs.items():
            yield Case(
                f"{name}-{problem}",
                [*args, "--config", "{tmp}/pipeline.yaml"],
                2,
                ("config file {tmp}/pipeline.yaml", named, "allowed keys"
                 if "unknown" in problem else "{tmp}/pipeline.yaml"),
                (("pipeline.yaml", text), ("kubeconfig", GOOD_KUBECONFIG)),
                (("KUBECONFIG", "{tmp}/kubeconfig"),),
            )  # fmt: skip
    bad_flags = [
        ("deploy-bad-timeout", ["deploy-canary", "--timeout", "soon"], ("'--timeout'", "soon")),
        ("deploy-bad-pin-method", ["deploy-canary", "--pin-method", "x"], ("'--pin-method'",)),
        ("deploy-digest-without-no-build", ["deploy-canary", "-s", "a", "--image", IMAGE,
         "--digest", DIGEST], ("--digest needs --no-build", "drop --digest")),
        ("deploy-bad-digest", ["deploy-canary", "-s", "a", "--image", IMAGE, "--no-build",
         "--digest", "sha256:abc"], ("invalid digest 'sha256:abc'",)),
        ("deploy-bad-image", ["deploy-canary", "-s", "a", "--image", "Bad Image"],
         ("invalid image reference 'Bad Image'",)),
        ("deploy-bad-template", ["deploy-canary", "-s", "a", "--image", IMAGE, "--tag",
         "{servise}"], ("unknown field {servise}", "available fields")),
        ("status-nothing-named", ["status"], ("no service or Application given", "--service")),
        ("status-bad-output", ["status", "-s", "a", "-o", "yaml"], ("'--output'", "yaml")),
        ("refresh-nothing-named", ["refresh"], ("pass --app NAME or --service NAME",)),
        ("poll-bad-interval", ["poll", "--interval", "0"], ("--interval '0'", "e.g. 30s")),
        ("poll-once-and-interval", ["poll", "--once", "--interval", "1m"],
         ("--once or --interval",)),
        ("poll-bad-workers", ["poll", "--workers", "0"], ("'--workers'",)),
        ("cleanup-nothing-named", ["cleanup-canary"], ("no service given", "--service")),
        ("detect-changes-no-base", ["detect-changes"], ("'--base'",)),
        ("render-no-config", ["render", "rbac"], ("pipeline.yaml is missing", "--config")),
        ("render-missing-config", ["render", "rbac", "--config", "{tmp}/none.yaml"],
         ("cannot read config file {tmp}/none.yaml", "--config PATH")),
    ]  # fmt: skip
    for case_id, args, names in bad_flags:
        yield Case(case_id, args, 2, names, (("kubeconfig", GOOD_KUBECONFIG),),
                   (("KUBECONFIG", "{tmp}/kubeconfig"),))  # fmt: skip
    api = ["status", "--app", "dev-api-auth", "--backend", "argocd-api"]
    bad_api = [
        ("argocd-no-server", api, ("no Argo CD API server given", "ARGOCD_SERVER")),
        ("argocd-no-token", [*api, "--argocd-server", "cd.example:443"],
         ("ARGOCD_AUTH_TOKEN is unset", "generate-token")),
        ("argocd-malformed-server", [*api, "--argocd-server", "ftp://cd"],
         ("--argocd-server 'ftp://cd'", "host:port")),
        ("argocd-unknown-context", [*api, "--argocd-config", "{tmp}/argocd", "--argocd-context",
         "prod"], ("'prod' is not defined in {tmp}/argocd", "ci")),
        ("argocd-bad-ca", [*api, "--argocd-server", "cd:443", "--auth-token", "t",
         "--argocd-ca", "{tmp}/argocd"], ("--argocd-ca {tmp}/argocd holds no readable PEM",)),
    ]  # fmt: skip
    context = "contexts: [{name: ci, server: cd, user: ci}]\n"
    for case_id, args, names in bad_api:
        yield Case(case_id, args, 2, names, (("argocd", context),),
                   (("HOME", "{tmp}"),))  # fmt: skip
    yield Case(
        "render-check-drift",
        ["render", "rbac", "--config", "{tmp}/pipeline.yaml", "--check", "{tmp}/rbac.yaml"],
        int(ExitCode.DRIFT),
        ("{tmp}/rbac.yaml drifted from {tmp}/pipeline.yaml",
         "pipeline render rbac --backend kubernetes --config {tmp}/pipeline.yaml --output-file "
         "{tmp}/rbac.yaml"),
        (("pipeline.yaml", f"image: {IMAGE}\nservices: [auth]\n"), ("rbac.yaml", "old: true\n")),
    )  # fmt: skip


GHOST_APP = "corpus-ghost"


def ghost_application() -> dict[str, object]:
    """An annotated Application whose destination namespace does not exist."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": GHOST_APP,
            "namespace": "argocd",
            "annotations": {
                "argocd-image-updater.argoproj.io/image-list": f"canary={IMAGE}:auth-dev-canary",
                "argocd-image-updater.argoproj.io/canary.update-strategy": "digest",
            },
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": "file:///nonexistent", "path": ".", "targetRevision": "HEAD"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "ghost-ns"},
        },
    }


def live_cases() -> Iterator[Case]:
    app_fix = "`kubectl -n argocd get applications` lists them"
    missing_app = ("Application argocd/dev-api-nope does not exist", app_fix)
    yield Case("status-missing-app", ["status", "-s", "nope"], 7, missing_app)
    yield Case("status-missing-app-name", ["status", "--app", "dev-api-nope"], 7, missing_app)
    yield Case("refresh-missing-app", ["refresh", "--app", "dev-api-nope"], 7, missing_app)
    yield Case("refresh-missing-service", ["refresh", "-s", "nope"], 7, missing_app)
    yield Case("poll-missing-app", ["poll", "--once", "-s", "nope"], 7, missing_app)
    yield Case("cleanup-missing-app", ["cleanup-canary", "-s", "nope", "--image", IMAGE], 7,
               missing_app)  # fmt: skip
    yield Case(
        "config-names-missing-app",
        ["status"], 7, ("Application argocd/team-nope does not exist",),
        (("pipeline.yaml", "app: team-{service}\nservices: [nope]\n"),),
    )  # fmt: skip
    yield Case(
        "deploy-dry-missing-app",
        ["deploy-canary", "-s", "nope", "--image", IMAGE, "--dry-run"],
        int(ExitCode.MISCONFIGURED),
        ("problem application-not-found: Application argocd/dev-api-nope does not exist",
         "or pass --app NAME"),
    )  # fmt: skip
    yield Case(
        "deploy-missing-app-without-image",
        ["deploy-canary", "-s", "nope", "--no-build", "--digest", DIGEST],
        int(ExitCode.USAGE),
        ("Application argocd/dev-api-nope to read it from does not exist", "pass --image"),
    )
    missing_ns = ("namespace nope does not exist", "pass --argocd-namespace")
    for name, args in (
        ("status", ["status", "-s", "auth"]),
        ("refresh", ["refresh", "--app", "dev-api-auth"]),
        ("poll", ["poll", "--once"]),
        ("cleanup", ["cleanup-canary", "-s", "auth", "--image", IMAGE]),
    ):
        yield Case(f"{name}-missing-namespace", [*args, "--argocd-namespace", "nope"], 7,
                   missing_ns)  # fmt: skip
    yield Case(
        "config-names-missing-namespace", ["poll", "--once"], 7, missing_ns,
        (("pipeline.yaml", "argocd_namespace: nope\n"),),
    )  # fmt: skip
    ghost = (
        "namespace ghost-ns does not exist",
        "pass --namespace (or namespace: in pipeline.yaml)",
    )
    yield Case("status-missing-workload-namespace", ["status", "--app", GHOST_APP], 7, ghost)
    yield Case(
        "config-names-missing-workload-namespace", ["status", "-s", "auth"], 7,
        ("namespace ghost-ns does not exist",),
        (("pipeline.yaml", f"app: {GHOST_APP}\nnamespace: ghost-ns\n"),),
    )  # fmt: skip
    yield Case(
        "deploy-dry-missing-namespace",
        [
            "deploy-canary",
            "-s",
            "auth",
            "--image",
            IMAGE,
            "--dry-run",
            "--argocd-namespace",
            "nope",
        ],
        int(ExitCode.MISCONFIGURED),
        ("Application nope/dev-api-auth does not exist",),
    )


OFFLINE = list(offline_cases())
LIVE = list(live_cases())


def fill_in(text: str, values: dict[str, str]) -> str:
    """``{tmp}``, ``{port}``, ``{repo}`` replaced; other braces (templates) kept."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_case(case: Case, root: Path, fill: dict[str, str]) -> subprocess.CompletedProcess[str]:
    directory = root / case.id
    directory.mkdir()
    values = {**fill, "tmp": str(directory)}
    for name, text in case.files:
        (directory / name).write_text(fill_in(text, values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "GITHUB_"))}
    env.pop("KUBECONFIG", None)
    env.update({k: fill_in(v, values) for k, v in case.env})
    env.update({"HOME": str(directory), "KUBECONFIG": env.get("KUBECONFIG", fill["kubeconfig"])})
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *(fill_in(a, values) for a in case.args)],
        cwd=directory, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def run_all(
    cases: list[Case], root: Path, fill: dict[str, str]
) -> dict[str, tuple[subprocess.CompletedProcess[str], dict[str, str]]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c.id: pool.submit(run_case, c, root, fill) for c in cases}
        return {
            case_id: (f.result(), {**fill, "tmp": str(root / case_id)})
            for case_id, f in futures.items()
        }


@pytest.fixture(scope="module")
def offline_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[subprocess.CompletedProcess[str], dict[str, str]]]:
    repo = Path(__file__).resolve().parents[2]
    fill = {"port": str(closed_port()), "repo": str(repo), "kubeconfig": "/nonexistent"}
    return run_all(OFFLINE, tmp_path_factory.mktemp("corpus"), fill)


@pytest.fixture(scope="module")
def live_results(
    sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[subprocess.CompletedProcess[str], dict[str, str]]]:
    path = resource_path("argoproj.io/v1alpha1", "applications", "argocd")
    if sandbox.kube.get_or_none(f"{path}/{GHOST_APP}") is None:
        sandbox.kube.create(path, ghost_application())
    fill = {"port": "0", "repo": "", "kubeconfig": str(sandbox.kubeconfig)}
    return run_all(LIVE, tmp_path_factory.mktemp("corpus-live"), fill)


def check(case: Case, proc: subprocess.CompletedProcess[str], values: dict[str, str]) -> None:
    shown = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == case.code, shown
    for text in case.names:
        assert fill_in(text, values) in proc.stderr, shown
    assert "Traceback" not in proc.stderr + proc.stdout, shown


@pytest.mark.parametrize("case", OFFLINE, ids=[c.id for c in OFFLINE])
def test_offline_bad_input(
    case: Case,
    offline_results: dict[str, tuple[subprocess.CompletedProcess[str], dict[str, str]]],
) -> None:
    check(case, *offline_results[case.id])


@pytest.mark.parametrize("case", LIVE, ids=[c.id for c in LIVE])
def test_bad_input_against_the_sandbox(
    case: Case,
    live_results: dict[str, tuple[subprocess.CompletedProcess[str], dict[str, str]]],
) -> None:
    check(case, *live_results[case.id])
