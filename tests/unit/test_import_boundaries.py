"""Architecture contracts (docs/architecture.md), checked on the source, not by convention:

- only adapters talk to outside systems through their client libraries;
- the product never imports the sandbox (only the `pipeline sandbox` command does).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"
CLIENT_LIBRARIES = {"kubernetes", "docker", "python_on_whales"}
# modules outside pipeline/adapters allowed to use a client library, and why
CLIENT_EXCEPTIONS = {
    "sandbox/controllers/containers.py",  # the sandbox kubelet's container runtime is Docker
    "services/dockerd.py",  # pings an engine when curl is missing
}
SANDBOX_USERS = {"commands/sandbox.py"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sources() -> list[tuple[str, Path]]:
    return [(str(p.relative_to(PACKAGE)), p) for p in sorted(PACKAGE.rglob("*.py"))]


def test_only_adapters_import_client_libraries() -> None:
    offenders = [
        f"{rel} imports {name}"
        for rel, path in sources()
        if not rel.startswith("adapters/") and rel not in CLIENT_EXCEPTIONS
        for name in imported_modules(path)
        if name.split(".")[0] in CLIENT_LIBRARIES
    ]
    assert offenders == []


def test_the_product_does_not_import_the_sandbox() -> None:
    offenders = [
        f"{rel} imports {name}"
        for rel, path in sources()
        if not rel.startswith("sandbox/") and rel not in SANDBOX_USERS
        for name in imported_modules(path)
        if name == "pipeline.sandbox" or name.startswith("pipeline.sandbox.")
    ]
    assert offenders == []
