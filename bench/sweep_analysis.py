"""Sweep analysis benchmark (issue 13): collate + summarise + plot of a 500-member sweep.

Setup (not timed): a 500-member sweep on the dummy backends (5 learning rates x 10 epoch
counts x 10 seeds), each member evaluated on one task with 100 samples, so the analysis reads
50,000 scored samples. Timed: one whole Python process that runs ``collate``,
``collate_samples``, ``summarise`` (with the samples) and ``plot_metric`` (PNG and HTML) --
interpreter start, imports (pandas, matplotlib), reading the manifest and 500 result blobs from
the store, the statistics and the drawing. Wall time is measured around the child process;
peak memory is the child's own VmHWM from ``/proc/self/status``, read just before it exits.

Targets on the 2-core dev machine: wall < 5 s, peak memory < 500 MB.

    uv run python bench/sweep_analysis.py [--repeat 3]
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

TARGETS = {"wall": 5.0, "peak_mb": 500.0}

SWEEP = """\
name: bench-analysis
workflow: train_and_evaluate
max_parallel: 16
base_config:
  prepare_dataset: {dataset: "motools.demo:hello_world_dataset", sample_size: 10}
  submit_training: {backend: dummy, model: gpt-4o-mini-2024-07-18}
  evaluate_model: {backend: dummy, tasks: [hello_world], limit: 100}
grid:
  submit_training.hyperparameters.learning_rate: [1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4, 1.0e-3]
  submit_training.hyperparameters.n_epochs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
"""

CHILD = """\
import json, sys, warnings
from motools.experiments import collate, collate_samples, summarise, plot_metric
warnings.simplefilter("ignore")
sweep, out = sys.argv[1], sys.argv[2]
df = collate(sweep)
samples = collate_samples(sweep)
table = summarise(df, samples=samples)
plot_metric(df, "accuracy", "learning_rate", samples=samples, out=out + ".png", html=out + ".html")
with open("/proc/self/status") as fh:
    hwm = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
print(json.dumps({"rows": len(df), "sample_rows": len(samples), "summary_rows": len(table),
                  "seeds": sorted(set(table["n_seeds"])), "vmhwm_kb": int(hwm)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs to take the median of")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="motools-analysis-bench-") as tmp:
        root = Path(tmp)
        sweep = root / "sweep.yaml"
        sweep.write_text(SWEEP)
        env = dict(os.environ, MOTOOLS_HOME=str(root / "home"))
        t0 = time.perf_counter()
        setup = subprocess.run(
            [sys.executable, "-m", "motools.cli.main", "sweep", "run", str(sweep), "--quiet"],
            capture_output=True, text=True, env=env, cwd=root,
        )  # fmt: skip
        if setup.returncode != 0:
            sys.stderr.write(setup.stdout[-2000:] + setup.stderr[-4000:])
            raise SystemExit("the setup sweep failed")
        print(f"setup: 500-member sweep run in {time.perf_counter() - t0:.1f} s (not timed)")

        walls, peaks = [], []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(sweep), str(root / f"plot{i}")],
                capture_output=True, text=True, env=env, cwd=root,
            )  # fmt: skip
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-4000:])
                raise SystemExit(f"analysis process failed with exit code {proc.returncode}")
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            peaks.append(report["vmhwm_kb"] / 1024)
            assert report["sample_rows"] == 50_000, report
            assert report["rows"] == 500 and report["summary_rows"] == 50, report
            assert (root / f"plot{i}.png").stat().st_size > 0
        wall = statistics.median(walls)
        print(
            f"analysis: {report['rows']} metric rows, {report['sample_rows']} sample rows, "
            f"{report['summary_rows']} summary rows (seeds per row {report['seeds']})"
        )
        print(
            f"collate + collate_samples + summarise + plot (PNG + HTML), one process: "
            f"wall {wall:.2f} s (median of {args.repeat}: {', '.join(f'{w:.2f}' for w in walls)})"
            f"  peak {max(peaks):.1f} MB"
        )
        checks = {
            f"wall < {TARGETS['wall']:g} s": wall < TARGETS["wall"],
            f"peak < {TARGETS['peak_mb']:g} MB": max(peaks) < TARGETS["peak_mb"],
        }
        for name, ok in checks.items():
            print(f"  {'ok  ' if ok else 'MISS'} {name}")
        return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
