"""Table cells shared by the printers: paths into objects, ages, selectors, CRD columns.

``human_age`` is ``duration.HumanDuration``; ``selector_text`` is
``metav1.FormatLabelSelector``/``labels.FormatLabels``; ``json_path`` evaluates the simple
JSONPath forms CRDs use in ``additionalPrinterColumns``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pipeline.sandbox.apiserver.resources import ResourceType

Obj = dict[str, Any]
Cell = Callable[[Obj], Any]
Column = tuple[str, str, int, Cell]  # name, type, priority, cell


def human_age(timestamp: str | None) -> str:
    """``duration.HumanDuration`` of now - timestamp (``5s``, ``3m``, ``2h``, ``4d``)."""
    if not timestamp:
        return "<unknown>"
    then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(int((datetime.now(UTC) - then).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def get_path(path: str) -> Cell:
    def cell(obj: Obj) -> Any:
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        return "" if current is None else current

    return cell


def num(path: str) -> Cell:
    return lambda obj: get_path(path)(obj) or 0


def age(obj: Obj) -> str:
    return human_age(obj["metadata"].get("creationTimestamp"))


def images(obj: Obj) -> str:
    containers = get_path("spec.template.spec.containers")(obj) or []
    return ",".join(str(c.get("image", "")) for c in containers)


def none_text(value: Any) -> str:
    return str(value) if value not in (None, "", [], {}) else "<none>"


def selector_text(selector: Any) -> str:
    """``metav1.FormatLabelSelector`` (matchLabels then expressions) or a plain label map."""
    if not isinstance(selector, dict) or not selector:
        return "<none>"
    labels = selector.get("matchLabels") if "matchLabels" in selector else None
    if labels is None and "matchExpressions" not in selector:
        labels = selector
    parts = [f"{k}={v}" for k, v in sorted((labels or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator"), ",".join(expr.get("values") or [])
        if op == "Exists":
            parts.append(str(expr.get("key")))
        elif op == "DoesNotExist":
            parts.append(f"!{expr.get('key')}")
        else:
            parts.append(f"{expr.get('key')} {op.lower() if op else ''} ({values})")
    return ",".join(parts) or "<none>"


def created_at(obj: Obj) -> str:
    return str(obj["metadata"].get("creationTimestamp", ""))


_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([^=!]+)==[\"']([^\"']*)[\"']\)\]")


def json_path(path: str) -> Cell:
    """A CRD column's ``jsonPath``: ``.a.b``, ``.a[0]``, ``.a[?(@.type=="Ready")].status``."""
    steps = list(_STEP.finditer(path.strip()))

    def cell(obj: Obj) -> Any:
        current: Any = obj
        for step in steps:
            key, index, field, value = step.groups()
            if key is not None:
                current = current.get(key) if isinstance(current, dict) else None
            elif index is not None:
                items = current if isinstance(current, list) else []
                current = items[int(index)] if int(index) < len(items) else None
            else:
                items = current if isinstance(current, list) else []
                current = next(
                    (i for i in items if isinstance(i, dict) and str(i.get(field)) == value), None
                )
            if current is None:
                return None
        return current

    return cell


NAME: Column = ("Name", "string", 0, lambda o: o["metadata"]["name"])
AGE: Column = ("Age", "string", 0, age)


def custom_columns(rt: ResourceType) -> list[Column]:
    """Name, then the CRD's additionalPrinterColumns (Age when it declares none)."""
    if not rt.printer_columns:
        return [NAME, ("Age", "date", 0, created_at)]
    return [NAME] + [
        (
            str(c.get("name", "")),
            str(c.get("type", "string")),
            int(c.get("priority", 0)),
            json_path(str(c.get("jsonPath", ""))),
        )
        for c in rt.printer_columns
    ]
