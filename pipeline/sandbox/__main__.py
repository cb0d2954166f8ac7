"""Entry point of the detached sandbox daemon: ``python -m pipeline.sandbox --state-dir DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.sandbox.daemon import serve
from pipeline.sandbox.state import StateDir


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sandbox")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    state = StateDir(args.state_dir)
    config = state.read_config()
    if config is None:
        print(f"no config.json in {state.path}: start with `pipeline sandbox up`", file=sys.stderr)
        return 2
    serve(state.path, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
