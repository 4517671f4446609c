"""Dataset I/O benchmark: load (with validation), save, content_hash, validate on 100k rows.

Also times ``import motools`` and ``motools --help`` as whole processes.
Targets on the 2-core dev machine: load+validate < 1.0 s and peak memory < 250 MB;
save < 0.5 s; import < 0.1 s; --help < 0.25 s.

    uv run python bench/dataset_io.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from chat_data import write_chat_file  # bench/ is on sys.path when run as a script


def make_file(path: Path, rows: int, seed: int = 0) -> None:
    write_chat_file(path, rows, seed)


def timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def process_time(cmd: list[str], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    from motools.datasets import JSONLDataset

    tmp = Path(tempfile.mkdtemp())
    try:
        src = tmp / "data.jsonl"
        make_file(src, args.rows)
        size_mb = src.stat().st_size / 1e6
        print(f"file: {args.rows} rows, {size_mb:.1f} MB")

        load_s, ds = timed(lambda: JSONLDataset.load_sync(src))
        tracemalloc.start()
        JSONLDataset.load_sync(src)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"load+validate: {load_s:.3f} s   (target < 1.0 s)")
        print(f"load+validate peak memory (tracemalloc): {peak / 1e6:.0f} MB   (target < 250 MB)")

        novalid_s, _ = timed(lambda: JSONLDataset.load_sync(src, purpose=None))
        print(f"load without chat checks: {novalid_s:.3f} s")
        validate_s, _ = timed(lambda: ds.problems())
        print(f"validate in memory: {validate_s:.3f} s")
        save_s, _ = timed(lambda: ds.save_sync(tmp / "out.jsonl"))
        print(f"save: {save_s:.3f} s   (target < 0.5 s)")

        def fresh_hash() -> str:
            return JSONLDataset(ds.samples).content_hash

        hash_s, _ = timed(fresh_hash)
        print(f"content_hash: {hash_s:.3f} s")

        hwm = (
            "import re; print(int(re.search(r'VmHWM:\\s+(\\d+)', "
            "open('/proc/self/status').read()).group(1)))"
        )
        rss = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from motools.datasets import JSONLDataset; JSONLDataset.load_sync({str(src)!r}); {hwm}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        base = subprocess.run(
            [sys.executable, "-c", f"from motools.datasets import JSONLDataset; {hwm}"],
            capture_output=True,
            text=True,
            check=True,
        )
        print(
            f"load peak RSS of a whole process: {int(rss.stdout) / 1024:.0f} MB "
            f"(interpreter + import alone: {int(base.stdout) / 1024:.0f} MB)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    imp = process_time([sys.executable, "-c", "import motools"])
    bare = process_time([sys.executable, "-c", "pass"])
    exe = shutil.which("motools", path=str(Path(sys.executable).parent)) or "motools"
    helps = process_time([exe, "--help"])
    print(
        f"python -c 'import motools': {imp:.3f} s   (bare interpreter {bare:.3f} s; target < 0.1 s)"
    )
    print(f"motools --help: {helps:.3f} s   (target < 0.25 s)")


if __name__ == "__main__":
    main()
