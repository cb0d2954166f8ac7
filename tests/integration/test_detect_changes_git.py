"""`pipeline detect-changes` on a real git repository: renames, deletions, shared paths."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.changes import detect_changes
from tests.fixtures.sandbox import run_cli

pytestmark = pytest.mark.integration

CONFIG = {
    "services": ["auth", "users", "billing"],
    "paths": {
        "auth": ["services/auth/**", "libs/common/**"],
        "users": ["services/users/**", "libs/common/**"],
        "billing": ["services/billing/**"],
    },
}


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "HOME": str(repo), "PATH": "/usr/bin:/bin"}  # fmt: skip
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def write(repo: Path, path: str, text: str) -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pipeline.yaml").write_text(yaml.safe_dump(CONFIG))
    body = "\n".join(f"line {i}" for i in range(40)) + "\n"
    write(repo, "services/auth/handler.py", body)
    write(repo, "services/users/main.py", "users\n")
    write(repo, "services/billing/old.txt", "billing\n")
    write(repo, "libs/common/util.py", "util\n")
    write(repo, "README.md", "readme\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def test_rename_across_services_selects_both(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "mv", "services/auth/handler.py", "services/users/handler.py")
    head = commit(repo, "move handler")
    changes = detect_changes(repo, base, head, CONFIG)
    (change,) = changes.files
    assert (change.status, change.old_path, change.path) == (
        "R", "services/auth/handler.py", "services/users/handler.py",
    )  # fmt: skip
    assert changes.services == ("auth", "users")


def test_deletion_and_shared_path(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "services/billing/old.txt")
    write(repo, "libs/common/util.py", "util v2\n")
    head = commit(repo, "delete and touch shared")
    changes = detect_changes(repo, base, head, CONFIG)
    assert {(f.status, f.path) for f in changes.files} == {
        ("D", "services/billing/old.txt"), ("M", "libs/common/util.py"),
    }  # fmt: skip
    assert changes.services == ("auth", "users", "billing")
    assert changes.matched["auth"] == ("libs/common/util.py",)


def test_only_unmapped_paths_select_nothing_and_base_moves_are_ignored(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "README.md", "docs only\n")
    head = commit(repo, "docs")
    git(repo, "checkout", "-q", "main")
    write(repo, "services/billing/new.txt", "main moved on\n")
    main_tip = commit(repo, "main moves")
    # three-dot: what the PR changed since the merge base, not what main did meanwhile
    assert detect_changes(repo, main_tip, head, CONFIG).services == ()
    assert detect_changes(repo, base, head, CONFIG).services == ()


def test_cli_github_output_and_unknown_commit(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    write(repo, "services/users/main.py", "users v2\n")
    head = commit(repo, "users")
    output = tmp_path / "github_output"
    proc = run_cli(
        ["detect-changes", "--repo", str(repo), "--config", str(repo / "pipeline.yaml"),
         "--base", base, "--head", head, "--output", "json"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["action"], result["services"]) == ("deploy", ["users"])
    proc = run_cli(
        ["detect-changes", "--repo", str(repo), "--config", str(repo / "pipeline.yaml"),
         "--base", base, "--head", head, "--output", "github"],
        env={"GITHUB_OUTPUT": str(output)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = output.read_text()
    assert '\n{"include": [{"service": "users"}]}\n' in text
    bad = run_cli(["detect-changes", "--repo", str(repo), "--base", "0" * 40, "--config",
                   str(repo / "pipeline.yaml")])  # fmt: skip
    assert bad.returncode == 2
    assert "fetch-depth: 0" in bad.stderr
