"""Benchmark rendering one service of a production-sized GitOps monorepo at its targetRevision,
the way deploy-canary's preflight does, served over smart HTTP on loopback.

The repository is the test fixture `tests/fixtures/monorepo.py` (9 services in one image
repository, an ApplicationSet, Services/HPAs/NetworkPolicies/CRD objects) plus filler files to
reach `--files` files. Measured, each the median of `--rounds`:

- cold: empty cache (clone, export of the commit, kustomize with the pin);
- warm: a new renderer on the same cache, as the next CI run on the same runner (one
  `git ls-remote`, the cached export, kustomize with the pin);
- warm_new_commit: the same after one new commit on the branch (a fetch of that commit and its
  export).

Usage: .venv/bin/python benchmarks/bench_source_render.py [--files 3000] [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from docsblock import replace_block

from pipeline.adapters.gitsource import GitSources
from pipeline.adapters.sources import SourceRenderer
from pipeline.services.githttp import GitServer, publish, run_git
from tests.fixtures.monorepo import write_monorepo

START, END = "<!-- bench_source_render:start -->", "<!-- bench_source_render:end -->"
IMAGE = "registry.example.com/acme/platform"
PIN = IMAGE + "@sha256:" + "ab" * 32


def _timed(action: Any) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run(files: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        repo = write_monorepo(root / "gitops", IMAGE, filler_files=max(0, files - 130))
        total = sum(1 for p in repo.path.rglob("*") if p.is_file() and ".git" not in p.parts)
        (root / "served").mkdir()
        server = GitServer(root / "served").start()
        try:
            publish(repo.path, server.root, "gitops")
            source = {
                "repoURL": server.repo_url("gitops"),
                "targetRevision": "develop",
                "path": repo.overlay("auth"),
            }

            def render(cache: Path) -> None:
                SourceRenderer(GitSources(cache)).render(source, images=[PIN])

            cold = [_timed(lambda i=i: render(root / f"cold-{i}")) for i in range(rounds)]
            warm_cache = root / "warm"
            render(warm_cache)
            warm = [_timed(lambda: render(warm_cache)) for _ in range(rounds)]
            new_commit = []
            for i in range(rounds):
                (repo.path / f"docs/change-{i}.md").write_text(f"change {i}\n")
                run_git("add", "-A", cwd=repo.path)
                run_git("commit", "-qm", f"change {i}", cwd=repo.path)
                run_git("branch", "-f", "develop", "main", cwd=repo.path)
                publish(repo.path, server.root, "gitops")
                new_commit.append(_timed(lambda: render(warm_cache)))
        finally:
            server.stop()
    return {
        "files": total,
        "rounds": rounds,
        "cold_s": round(statistics.median(cold), 3),
        "warm_s": round(statistics.median(warm), 3),
        "warm_new_commit_s": round(statistics.median(new_commit), 3),
    }


def write_docs(result: dict[str, Any]) -> None:
    block = (
        f"{START}\n"
        f"Preflight render of one service (kustomize overlay + pin) in a {result['files']:,}-file "
        f"monorepo served over smart HTTP on loopback, median of {result['rounds']}:\n\n"
        "| case | seconds |\n|---|---|\n"
        f"| cold (empty cache: clone, export, render) | {result['cold_s']} |\n"
        f"| warm (ls-remote, cached export, render) | {result['warm_s']} |\n"
        f"| warm after a new commit (fetch, export, render) | {result['warm_new_commit_s']} |\n"
        f"{END}"
    )
    replace_block(START, END, block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    result = run(args.files, args.rounds)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_docs(result)


if __name__ == "__main__":
    main()
