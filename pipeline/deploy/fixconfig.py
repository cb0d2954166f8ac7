"""The pipeline.yaml part of a fix plan: per-service ``selector`` and ``namespace`` for the
services whose canary the conventions miss (a canary labeled ``version: canary``, a service
deployed into another service's namespace), written with the file's comments and layout kept.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML


def config_patch(path: Path, settings: Mapping[str, Mapping[str, str]]) -> str:
    """A unified diff (paths relative to ``path``'s directory, for ``git apply`` there) that
    gives each service in ``settings`` those keys in ``services:`` of ``path``."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    before = path.read_text() if path.is_file() else ""
    document: Any = (yaml.load(before) if before else None) or {}
    services = document.get("services")
    if services is None:
        document["services"] = services = []
    for service, values in sorted(settings.items()):
        _set_service(services, service, dict(values))
    stream = io.StringIO()
    yaml.dump(document, stream)
    name = path.name
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            stream.getvalue().splitlines(keepends=True),
            f"a/{name}" if before else "/dev/null",
            f"b/{name}",
        )
    )


def _set_service(services: Any, service: str, values: dict[str, str]) -> None:
    for i, entry in enumerate(services):
        if entry == service:
            services[i] = {"name": service, **values}
            return
        if hasattr(entry, "get") and entry.get("name") == service:
            for key, value in values.items():
                entry[key] = value
            return
    services.append({"name": service, **values})
