"""Rewrite one generated block of docs/performance.md, between its start and end markers."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def replace_block(start: str, end: str, block: str, docs: Path = DOCS) -> None:
    """Put ``block`` (which carries both markers) where the markers stand in ``docs``."""
    text = docs.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{docs} has no {start} ... {end} block to rewrite")
    head, rest = text.split(start, 1)
    docs.write_text(head + block + rest.split(end, 1)[1])
