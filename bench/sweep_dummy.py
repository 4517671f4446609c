"""Sweep benchmark (issue 8): a 500-member sweep on the dummy backends, cold and cached.

Each run is a whole ``motools sweep run SWEEP.yaml --quiet`` process (interpreter start,
imports, plugin loading, expansion and validation of every member, the runs, the manifest).
Wall time is measured around the child process; peak memory is the child's own VmHWM from
``/proc/self/status``, read just before it exits (``ru_maxrss`` is not used: it is inherited
across exec). The cold run must submit exactly one dummy job per member (counted in the
dummy backend's ``job_log``) and the cached run none.

Targets on the 2-core dev machine: cold < 15 s, cached < 2 s, peak memory < 300 MB.

    uv run python bench/sweep_dummy.py [--members 500] [--max-parallel 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"cold": 15.0, "cached": 2.0, "peak_mb": 300.0}

SWEEP = """\
name: bench-{members}
workflow: train_and_evaluate
max_parallel: {parallel}
base_config:
  prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 10}}
  submit_training:
    backend: dummy
    model: gpt-4o-mini-2024-07-18
    hyperparameters: {{n_epochs: 3}}
    backend_options: {{job_log: "{log}"}}
  evaluate_model: {{backend: dummy, tasks: [gsm8k, hello_world], limit: 5}}
grid:
  submit_training.hyperparameters.learning_rate: {lrs}
  seed: {seeds}
"""

CHILD = """\
import sys
from motools.cli.main import main
code = main(["sweep", "run", sys.argv[1], "--quiet", "--json"])
with open("/proc/self/status") as fh:
    hwm = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
sys.stderr.write(f"VMHWM_KB={{hwm}}\\n")
sys.exit(code)
"""


def run_child(sweep: Path, env: dict[str, str]) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(), str(sweep)],
        capture_output=True,
        text=True,
        env=env,
        cwd=sweep.parent,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"sweep process failed with exit code {proc.returncode}")
    hwm_kb = next(
        int(line.split("=", 1)[1])
        for line in proc.stderr.splitlines()
        if line.startswith("VMHWM_KB=")
    )
    return wall, hwm_kb / 1024, json.loads(proc.stdout)


def jobs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=500, help="lr values x seeds (10 lrs)")
    parser.add_argument("--max-parallel", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="cached runs to take the median of")
    args = parser.parse_args()
    n_lr = 10
    n_seeds = max(1, args.members // n_lr)
    lrs = [round(1e-5 * (i + 1), 8) for i in range(n_lr)]
    with tempfile.TemporaryDirectory(prefix="motools-sweep-bench-") as tmp:
        root = Path(tmp)
        log = root / "jobs.log"
        sweep = root / "sweep.yaml"
        sweep.write_text(
            SWEEP.format(
                members=n_lr * n_seeds,
                parallel=args.max_parallel,
                log=log,
                lrs=json.dumps(lrs),
                seeds=json.dumps(list(range(n_seeds))),
            )
        )
        env = dict(os.environ, MOTOOLS_HOME=str(root / "home"))
        members = n_lr * n_seeds
        print(
            f"sweep of {members} members (10 learning rates x {n_seeds} seeds), "
            f"max_parallel={args.max_parallel}, dummy backends, one process per run"
        )

        cold_wall, cold_mb, cold = run_child(sweep, env)
        assert cold["ok"], "cold sweep had failures"
        assert cold["counts"]["members"] == members
        assert jobs(log) == members, f"cold sweep submitted {jobs(log)} jobs for {members} members"
        print(
            f"cold:    wall {cold_wall:6.2f} s  peak {cold_mb:6.1f} MB  jobs submitted {jobs(log)}"
        )

        walls, peaks = [], []
        for _ in range(args.repeat):
            wall, mb, cached = run_child(sweep, env)
            assert cached["ok"] and cached["counts"]["cached"] == members, cached["counts"]
            assert jobs(log) == members, "the cached sweep submitted jobs"
            walls.append(wall)
            peaks.append(mb)
        cached_wall = statistics.median(walls)
        print(
            f"cached:  wall {cached_wall:6.2f} s  peak {max(peaks):6.1f} MB  "
            f"(median of {args.repeat}: {', '.join(f'{w:.2f}' for w in walls)}) "
            f"jobs submitted {jobs(log) - members}"
        )

        checks = {
            f"cold < {TARGETS['cold']:g} s": cold_wall < TARGETS["cold"],
            f"cached < {TARGETS['cached']:g} s": cached_wall < TARGETS["cached"],
            f"peak < {TARGETS['peak_mb']:g} MB": max(cold_mb, *peaks) < TARGETS["peak_mb"],
        }
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'MISS'} {name}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
