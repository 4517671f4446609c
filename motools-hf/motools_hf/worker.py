"""``python -m motools_hf.worker RUN_DIR [--lock-fd N]``: drive one run to its end.

The local executor starts this as a detached process (its own session, so it outlives the
client); the Ray executor submits it as a Ray job's entrypoint.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motools_hf.worker")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--lock-fd", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from motools_hf.loop import run_worker

    status = run_worker(args.run_dir, lock_fd=args.lock_fd)
    print(f"motools-hf worker: run {args.run_dir.name} {status}", flush=True)
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(main())
