"""A scratch copy of a GitOps repository whose YAML a fix plan edits in place, comments and
layout kept (ruamel round-trip), and the diff of what changed (``git apply``-able)."""

from __future__ import annotations

import difflib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML


class Workspace:
    """YAML files of a scratch copy of the repository, edited in place with their comments
    and layout kept (ruamel round-trip), and the diff against the originals."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.yaml = YAML()
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096
        self._docs: dict[str, list[Any]] = {}
        self._original: dict[str, str] = {}

    def files(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.suffix in (".yaml", ".yml") and path.is_file() and ".git" not in path.parts:
                yield str(path.relative_to(self.root))

    def docs(self, rel: str) -> list[Any]:
        if rel not in self._docs:
            text = (self.root / rel).read_text()
            self._original.setdefault(rel, text)
            try:
                self._docs[rel] = [d for d in self.yaml.load_all(text) if d is not None]
            except Exception:  # ruamel raises many kinds; a file we cannot parse is not ours
                self._docs[rel] = []
        return self._docs[rel]

    def find(self, kind: str, name: str) -> tuple[str, Any] | None:
        for rel in self.files():
            for doc in self.docs(rel):
                meta = doc.get("metadata") if hasattr(doc, "get") else None
                if doc.get("kind") == kind and (meta or {}).get("name") == name:
                    return rel, doc
        return None

    def kustomization(self, directory: str) -> tuple[str, Any] | None:
        for name in ("kustomization.yaml", "kustomization.yml"):
            rel = str(Path(directory) / name)
            if (self.root / rel).is_file() and self.docs(rel):
                return rel, self.docs(rel)[0]
        return None

    def touch(self, rel: str) -> None:
        """Write ``rel``'s edited documents back."""
        stream = io.StringIO()
        self.yaml.dump_all(self._docs[rel], stream)
        (self.root / rel).write_text(stream.getvalue())

    def diff(self) -> str:
        chunks: list[str] = []
        for rel, before in sorted(self._original.items()):
            after = (self.root / rel).read_text()
            if after != before:
                chunks += difflib.unified_diff(
                    before.splitlines(keepends=True), after.splitlines(keepends=True),
                    f"a/{rel}", f"b/{rel}",
                )  # fmt: skip
        return "".join(chunks)
