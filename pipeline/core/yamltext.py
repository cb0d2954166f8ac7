"""A YAML document from bytes, as pipeline.yaml is read: UTF-8 and plain data only (pure).

``yaml.safe_load`` alone would hand back ``bytes`` for ``!!binary``, ``datetime`` for a date,
and raise ``UnicodeDecodeError`` for a file that is not UTF-8; each is refused here as a
UsageError naming the file, the line and what to write instead.
"""

from __future__ import annotations

from typing import Any

import yaml

_PLAIN = {"tag:yaml.org,2002:" + t for t in ("null", "bool", "int", "float", "str", "seq", "map")}


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader refusing every tag beyond JSON's types (``!!binary``, ``!!timestamp``...)."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node.tag not in _PLAIN:
            raise yaml.constructor.ConstructorError(
                None, None, f"a {node.tag.rpartition(':')[2] or node.tag} value ({node.tag}) "
                "is not allowed: write a plain string, number, list or mapping",
                node.start_mark,
            )  # fmt: skip
        return super().construct_object(node, deep)


def parse_yaml(data: bytes, name: str, fix: str) -> Any:
    """The document in ``data`` (``name``: the file, for messages; ``fix``: the hint)."""
    from pipeline.errors import UsageError

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UsageError(
            f"config file {name} is not UTF-8 text (line {line}: byte {data[e.start]:#04x})",
            hint=f"save {name} as UTF-8",
        ) from None
    try:
        return yaml.load(text, Loader=_PlainLoader)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise UsageError(f"config file {name} is not valid YAML{at}: {problem}", hint=fix) from None
