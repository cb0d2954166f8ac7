"""Exporting a commit's files for a render: only the directories it reads, merged into one
export per commit, with a record of what is there (used by ``gitsource.GitSources.tree``).

The directories a render reads are found from the commit's own objects: the app directory and,
recursively, every local path its kustomizations name (``core.kustomize_edit.local_references``).
"""

from __future__ import annotations

import posixpath
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pipeline.adapters.bounded import Bound
from pipeline.adapters.kustomize import KUSTOMIZATION_FILES
from pipeline.core.kustomize_edit import local_references
from pipeline.errors import SourceUnavailable

GIT_TIMEOUT = 120.0  # seconds for one git command, unless the run's deadline comes first
UNBOUNDED = Bound(GIT_TIMEOUT)


def local_git(bound: Bound, git_dir: Path | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``git [--git-dir DIR] ARGS`` on a local repository, within ``bound``."""
    command = ["git", *(["--git-dir", str(git_dir)] if git_dir else []), *args]
    what = f"git {args[0]} in {git_dir or args[-1]}"
    try:
        return bound.run(command, what=what, waiting_on=f"git {args[0]} did not finish")
    except subprocess.TimeoutExpired:
        raise SourceUnavailable(f"{what} did not finish within {bound.seconds:.0f}s") from None


def export(
    git_dir: Path, commit: str, target: Path, dirs: list[str], bound: Bound = UNBOUNDED
) -> None:
    """Extract ``dirs`` of ``commit`` ("." for all) into ``target``, merging with what is there."""
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    what = f"exporting {commit[:12]} of {git_dir}"
    try:
        spec = [] if dirs == ["."] else ["--", *dirs]
        with subprocess.Popen(
            ["git", "--git-dir", str(git_dir), "archive", "--format=tar", commit, *spec],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdout is not None
            try:
                with bound.watching(proc, what=what, waiting_on="git archive did not finish"):
                    with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
                        archive.extractall(staging, filter="data")
                    proc.stdout.read()  # the archive's trailing padding: else SIGPIPE
            except subprocess.TimeoutExpired:
                raise SourceUnavailable(
                    f"{what}: git archive did not finish within {bound.seconds:.0f}s"
                ) from None
        if proc.returncode != 0:
            raise SourceUnavailable(f"git archive {commit[:12]} exited {proc.returncode}")
        shutil.copytree(staging, target, symlinks=True, dirs_exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


_EXPORTED = ".pipeline-exported"


def exported(target: Path) -> set[str]:
    """The directories already exported under ``target`` ("." for all of it)."""
    try:
        return set((target / _EXPORTED).read_text().split("\n")) - {""}
    except OSError:
        return set()


def record_export(target: Path, dirs: set[str]) -> None:
    (target / _EXPORTED).write_text("\n".join(sorted(dirs)) + "\n")


def covered(directory: str, done: set[str]) -> bool:
    return any(directory == d or directory.startswith(d + "/") for d in done)


def _object_type(git_dir: Path, commit: str, path: str, bound: Bound) -> str:
    proc = local_git(bound, git_dir, "cat-file", "-t", f"{commit}:{path}")
    return proc.stdout.decode().strip() if proc.returncode == 0 else ""


def _read_kustomization(
    git_dir: Path, commit: str, directory: str, bound: Bound
) -> dict[str, Any] | None:
    for name in KUSTOMIZATION_FILES:
        proc = local_git(bound, git_dir, "show", f"{commit}:{directory}/{name}")
        if proc.returncode == 0:
            loaded = yaml.safe_load(proc.stdout.decode(errors="replace"))
            return loaded if isinstance(loaded, dict) else {}
    return None


def needed_dirs(
    git_dir: Path, commit: str, path: str, bound: Bound = UNBOUNDED
) -> list[str] | None:
    """The directories a render of ``path`` reads at ``commit``; None when that cannot be told
    (a reference leaving the repository, an unreadable kustomization): export everything."""
    start = posixpath.normpath(path or ".")
    if start == "." or start.startswith(".."):
        return None
    if _object_type(git_dir, commit, start, bound) != "tree":
        return []  # nothing to export: the render reports the missing path
    needed: set[str] = set()
    queue = [start]
    try:
        while queue:
            directory = queue.pop()
            if directory in needed:
                continue
            needed.add(directory)
            kustomization = _read_kustomization(git_dir, commit, directory, bound)
            for ref in local_references(kustomization or {}):
                target = posixpath.normpath(posixpath.join(directory, ref))
                if target == "." or target.startswith(".."):
                    return None
                kind = _object_type(git_dir, commit, target, bound)
                if kind == "tree":
                    queue.append(target)
                elif kind == "blob":
                    needed.add(posixpath.dirname(target) or ".")
    except yaml.YAMLError:
        return None
    if "." in needed:
        return None
    return sorted(d for d in needed if not covered(posixpath.dirname(d), needed - {d}))
