"""docs/img/architecture.{dot,svg} is generated from the import graph and kept current."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "architecture_graph.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("architecture_graph", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_picture_matches_the_imports() -> None:
    script = load_script()
    assert script.DOT_FILE.read_text() == script.current_dot(), (
        "the layers' imports changed: run scripts/architecture-graph and commit docs/img/"
    )
    # the SVG was rendered from this DOT: Graphviz keeps each edge's name as a comment
    drawn = set(re.findall(r"<!-- (\S+)&#45;&gt;(\S+) -->", script.SVG_FILE.read_text()))
    assert drawn == set(re.findall(r'^  "(\S+)" -> "(\S+)"', script.DOT_FILE.read_text(), re.M))


def test_a_package_outside_every_layer_is_named() -> None:
    script = load_script()
    with pytest.raises(SystemExit, match=r"add \['plugins'\] to a layer"):
        script.render_dot({"core", "plugins"}, {("plugins", "core")})
