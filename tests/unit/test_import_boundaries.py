"""Architecture contracts (docs/architecture.md), checked on the import graph, not by convention.

- The layer contracts live in pyproject.toml (``[tool.importlinter]``); ``lint-imports`` checks
  them here, so a violation fails the unit tests and CI. Run ``.venv/bin/lint-imports`` to see
  the offending import chain.
- No import cycles among ``pipeline`` modules (grimp, which import-linter uses, gives the graph;
  the ``acyclic`` contract also refuses cycles between sibling packages).
- No module over 400 lines: split it by responsibility (docs/architecture.md).
- ``pipeline --help`` stays fast: importing ``pipeline.cli`` loads no client library.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"
MAX_LINES = 400
# what `pipeline --help` must not pay for: the client libraries and the template engine
HEAVY = ("kubernetes", "docker", "python_on_whales", "requests", "urllib3", "jinja2", "yaml")


def test_import_contracts_are_kept() -> None:
    exit_code = lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True
    )
    assert exit_code == 0, "a contract in pyproject.toml is broken: see the output above"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    edges = {
        module: sorted(graph.find_modules_directly_imported_by(module) & graph.modules)
        for module in sorted(graph.modules)
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def test_import_cycles_are_found() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert import_cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    # imports inside functions count (they only postpone the cycle); `if TYPE_CHECKING:` ones not
    graph = grimp.build_graph("pipeline", exclude_type_checking_imports=True, cache_dir=None)
    assert import_cycles(graph) == []


def test_no_module_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_importing_the_cli_loads_no_client_library() -> None:
    code = "import sys, json, pipeline.cli; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert sorted(loaded & set(HEAVY)) == []
