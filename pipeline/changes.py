"""`detect-changes`: which services a pull request touches, from git and pipeline.yaml.

The changed files are what ``git diff --name-status -z -M <base>...<head>`` reports: the
three-dot form diffs the head against the merge base, which is what GitHub's "Files changed"
tab shows for a pull request (docs.github.com "About comparing branches in pull requests":
"three-dot diff"). A rename counts both its old and its new path (moving a file out of a
service changes that service too), a deletion counts its path, a copy counts its new path.

Which paths belong to which service comes from pipeline.yaml, never from CI glue::

    paths:                        # gitignore-like globs, relative to the repository root
      auth: [services/auth/**, libs/common/**]
      users: [services/users/**, libs/common/**]   # a shared path maps to several services

``**`` matches any number of directories, ``*`` and ``?`` stay within one path segment.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError, truncate


@dataclass(frozen=True)
class FileChange:
    """One line of ``git diff --name-status``: status letter and the path(s) involved."""

    status: str  # A, M, D, R, C, T
    path: str
    old_path: str = ""  # renames and copies only

    def paths(self) -> tuple[str, ...]:
        """Paths this change touches: both sides of a rename, the new side of a copy."""
        if self.status == "R" and self.old_path:
            return (self.old_path, self.path)
        return (self.path,)


@dataclass(frozen=True)
class ChangeSet:
    base: str
    head: str
    files: tuple[FileChange, ...]
    services: tuple[str, ...]  # in pipeline.yaml order
    matched: dict[str, tuple[str, ...]]  # service -> changed paths that selected it

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "services": list(self.services),
            "matched": {s: list(p) for s, p in self.matched.items()},
            "files": [
                {
                    "status": f.status,
                    "path": f.path,
                    **({"old_path": f.old_path} if f.old_path else {}),
                }
                for f in self.files
            ],
        }


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``**`` spans directories, ``*``/``?`` stay inside one segment.

    A pattern ending in ``/`` matches everything below that directory, like ``dir/**``.
    """
    if pattern.endswith("/"):
        pattern += "**"
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).match(path) is not None


def service_paths(config: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``paths:`` of pipeline.yaml as service -> globs; services listed without paths get none.

    Order follows ``services:`` first, then any extra keys of ``paths:``.
    """
    raw = config.get("paths") or {}
    if not isinstance(raw, Mapping):
        raise UsageError(
            "pipeline.yaml: 'paths' must map service names to lists of globs",
            hint="e.g. paths: {auth: [services/auth/**]}",
        )
    names: list[str] = []
    for item in config.get("services") or []:
        name = item if isinstance(item, str) else (item or {}).get("name")
        if isinstance(name, str) and name not in names:
            names.append(name)
    names += [str(k) for k in raw if str(k) not in names]
    result: dict[str, tuple[str, ...]] = {}
    for name in names:
        globs = raw.get(name) or []
        if isinstance(globs, str) or not all(isinstance(g, str) for g in globs):
            raise UsageError(
                f"pipeline.yaml: paths of service {name!r} must be a list of strings",
                hint=f"e.g. paths: {{{name}: [services/{name}/**]}}",
            )
        result[name] = tuple(globs)
    return result


def parse_name_status(output: str) -> tuple[FileChange, ...]:
    """Parse ``git diff --name-status -z``: NUL-separated, two paths after R/C lines."""
    fields = output.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    changes: list[FileChange] = []
    i = 0
    while i < len(fields):
        status = fields[i][:1]
        if status in ("R", "C"):
            changes.append(FileChange(status, fields[i + 2], old_path=fields[i + 1]))
            i += 3
        else:
            changes.append(FileChange(status, fields[i + 1]))
            i += 2
    return tuple(changes)


def select_services(
    files: Sequence[FileChange], paths: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """service -> the changed paths that matched one of its globs (only services that matched)."""
    selected: dict[str, tuple[str, ...]] = {}
    for service, globs in paths.items():
        hits = sorted({p for f in files for p in f.paths() if any(matches(g, p) for g in globs)})
        if hits:
            selected[service] = tuple(hits)
    return selected


def git_diff(repo: Path, base: str, head: str) -> tuple[FileChange, ...]:
    args = ["git", "-C", str(repo), "diff", "--name-status", "-z", "-M", f"{base}...{head}"]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UsageError(
            f"{' '.join(args[3:])} exited {proc.returncode}: {truncate(proc.stderr.strip(), 500)}",
            hint="both commits must be in the clone: check out with fetch-depth: 0 "
            "(actions/checkout), or git fetch the base branch first",
        )
    return parse_name_status(proc.stdout)


def detect_changes(repo: Path, base: str, head: str, config: Mapping[str, Any]) -> ChangeSet:
    paths = service_paths(config)
    files = git_diff(repo, base, head)
    matched = select_services(files, paths)
    return ChangeSet(
        base=base,
        head=head,
        files=files,
        services=tuple(s for s in paths if s in matched),
        matched=matched,
    )


def github_matrix(services: Sequence[str]) -> dict[str, list[dict[str, str]]]:
    """A ``strategy.matrix`` value: ``{"include": [{"service": ...}, ...]}``."""
    return {"include": [{"service": s} for s in services]}
