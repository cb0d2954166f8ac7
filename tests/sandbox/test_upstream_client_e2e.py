"""The official Python client's own e2e tests (kubernetes-client/python ``kubernetes/e2e_test``,
vendored unchanged in tests/e2e_upstream/) pass against a sandbox started by `pipeline sandbox up`.

They run in a child pytest with tests/e2e_upstream/plugin.py, which holds every adaptation
(configuration through ``$KUBECONFIG``, one image from the sandbox's registry) and the expected
outcome of each test; the table is in docs/sandbox.md. The child gets its own sandbox, since the
upstream tests use fixed names in ``default`` and leave objects behind when they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.services.dockerd import DockerEngine
from pipeline.services.registry import Registry
from tests.e2e_upstream.plugin import EXPECTED, IMAGE_SUBSTITUTIONS
from tests.fixtures.sandbox import SandboxHandle, running_sandbox
from tests.fixtures.services import BUSYBOX, BuildImage

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "tests" / "e2e_upstream" / "kubernetes"
# what manifest_with_command's shell scripts call
APPLETS = ("sh", "date", "sleep", "gzip", "uptime", "cat", "ls", "true", "false", "seq", "echo")


@pytest.fixture(scope="module")
def e2e_sandbox(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, docker_engine: DockerEngine
) -> Iterator[SandboxHandle]:
    state = tmp_path_factory.mktemp("e2e-sandbox")
    with running_sandbox(state, registry, docker_engine.host) as sb:
        yield sb


def busybox_image(context: Path, registry: Registry, build_image: BuildImage) -> str:
    """A busybox image with its applets on PATH (upstream's pods run ``/bin/sh -c ...``)."""
    bin_dir = context / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy(BUSYBOX, bin_dir / "busybox")
    for applet in APPLETS:
        (bin_dir / applet).symlink_to("busybox")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY bin /bin\n")
    ref = f"{registry.address}/e2e-upstream/busybox:1"
    build_image(context, ref)
    return ref


def adapted_copy(run_dir: Path, busybox: str) -> None:
    shutil.copytree(VENDORED, run_dir / "kubernetes")
    for name, old, new, count in IMAGE_SUBSTITUTIONS:
        path = run_dir / "kubernetes" / "e2e_test" / name
        text = path.read_text()
        assert text.count(old) == count, f"upstream {name} changed: {old!r} x{text.count(old)}"
        path.write_text(text.replace(old, new.format(busybox=busybox)))


def outcomes(junit: Path) -> dict[str, str]:
    """node id -> passed / failed / skipped / xfailed, from the child's JUnit XML."""
    found: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        module, _, cls = case.attrib["classname"].rpartition(".")
        node = f"{module.replace('.', '/')}.py::{cls}::{case.attrib['name']}"
        skipped = case.find("skipped")
        if case.find("failure") is not None or case.find("error") is not None:
            found[node] = "failed"
        elif skipped is not None:
            found[node] = "xfailed" if skipped.attrib.get("type") == "pytest.xfail" else "skipped"
        else:
            found[node] = "passed"
    return found


def test_the_python_clients_e2e_tests_pass_for_every_claimed_kind(
    e2e_sandbox: SandboxHandle, build_image: BuildImage, tmp_path: Path
) -> None:
    busybox = busybox_image(tmp_path / "busybox", e2e_sandbox.registry, build_image)
    run_dir = tmp_path / "run"
    adapted_copy(run_dir, busybox)
    junit = tmp_path / "junit.xml"
    env = {
        **os.environ,
        "KUBECONFIG": str(e2e_sandbox.kubeconfig),
        "PYTHONPATH": str(ROOT),
        "E2E_UPSTREAM_ROOT": str(run_dir),
    }
    child = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "tests.e2e_upstream.plugin",
            "-p", "no:cacheprovider", "--timeout", "90", "-q", "-rfE",
            f"--junitxml={junit}", "kubernetes/e2e_test",
        ],
        cwd=run_dir, env=env, capture_output=True, text=True, timeout=280,
    )  # fmt: skip
    report = child.stdout[-6000:] + child.stderr[-2000:]
    assert junit.exists(), report
    expected = {node: outcome for node, (outcome, _) in EXPECTED.items()}
    assert outcomes(junit) == expected, report
    assert child.returncode == 0, report
