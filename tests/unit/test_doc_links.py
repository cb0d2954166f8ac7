"""Every docs/ page a message or hint of the product names exists, and so does the section
it names (`docs/x.md, Section`, `docs/x.md#anchor`, or a reason listed in the page)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(
    r"docs/([A-Za-z0-9_-]+\.md)(?:#([A-Za-z0-9_-]+)|, ([A-Za-z`][\w`-]*(?: [\w`-]+)*))?"
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                ids.add(id(value))
    return ids


def product_strings() -> list[tuple[str, str]]:
    """(where, text) of every string literal of the product but docstrings."""
    found = []
    for path in sorted((ROOT / "pipeline").rglob("*.py")):
        if "sandbox" in path.parts or "services" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.value))
    return found


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).strip().replace(" ", "-")


def test_every_docs_link_in_a_message_resolves() -> None:
    checked, broken = 0, []
    for where, text in product_strings():
        for page, anchor, section in LINK.findall(text):
            checked += 1
            doc = ROOT / "docs" / page
            if not doc.is_file():
                broken.append(f"{where}: docs/{page} does not exist")
                continue
            content = doc.read_text()
            headings = [
                line.lstrip("#").strip() for line in content.splitlines() if line.startswith("#")
            ]
            if anchor and anchor not in {_slug(h) for h in headings}:
                broken.append(f"{where}: docs/{page} has no heading #{anchor}")
            if section:
                name = section.strip("`")
                if (
                    not any(name.lower() in h.lower() for h in headings)
                    and f"`{name}`" not in content
                ):
                    broken.append(f"{where}: docs/{page} has no section or entry {section!r}")
    assert checked > 10  # the scan really reads the messages
    assert broken == []
