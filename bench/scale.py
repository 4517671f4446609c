"""Scale benchmark (issue 17): a workflow costs what its data costs, listings stay instant.

Every figure is a whole process (``motools ...`` or ``python -c ...``), its wall time measured
around it and its peak RSS read from ``/usr/bin/time -v`` ("Maximum resident set size"). Each
figure is printed beside its target and beside the same figure for 10x fewer items, so that a
cost growing faster than the data shows as a growth well above 10x (or, for listings that
should be flat, above 1x).

(workflow) a cold ``motools workflow run train_and_evaluate`` (dummy backends) on a chat JSONL
    file of N rows (~410 bytes a row, like the issue's 100k rows / 41 MB), against loading the
    same file alone (``JSONLDataset.load_sync``: the floor). Targets: 100k rows peak RSS
    <= 1.3x the load-alone peak and <= 200 MiB; 1M rows (``--rows 100000 1000000``) <= 1.5 GB
    and <= 12 s.
(listings) ``motools cache ls`` and ``motools runs`` (table and ``--json``) on stores of
    10 / 10k / 100k entries (a third each step, training and eval records shaped like a real
    run's). Targets at 100k: ``cache ls`` < 0.25 s and flat from 10 entries; ``runs`` < 0.3 s
    and < 60 MiB.
(sweep) ``motools sweep run`` of N members (learning rates x 10 seeds, dummy backends), cold
    then cached. Targets at 2,000 members: cached < 2 s, cold < 6 s.

Everything lives in a temporary directory (``MOTOOLS_HOME`` and the working directory of every
child point there). The machine is shared: each figure is the median of ``--repeat`` runs.
Bytecode is compiled once before anything is timed (into the temporary directory, see
``warm_up``), so every figure is a researcher's second command, not their first.

    uv run python bench/scale.py [--only workflow listings sweep] [--repeat 3]
        [--rows 10000 100000] [--entries 10 10000 100000] [--members 200 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chat_data import WORDS as BASE_WORDS  # bench/ is on sys.path when run as a script
from chat_data import write_chat_file as write_rows

MIB = 1024 * 1024
ROWS: list[tuple[str, str]] = []  # (figure, verdict)


# -- whole processes ---------------------------------------------------------------------------
def motools_cmd() -> list[str]:
    script = Path(sys.executable).with_name("motools")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from motools.cli.main import main; sys.exit(main())"]


def measure(cmd: list[str], home: Path, cwd: Path) -> tuple[float, float, str]:
    """``(wall seconds, peak RSS MiB, stdout)`` of one whole process."""
    env = dict(os.environ, MOTOOLS_HOME=str(home), TINKER_TELEMETRY="0", HF_HUB_OFFLINE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # steady state: bytecode compiled once (warm_up)
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", *cmd], env=env, cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"/usr/bin/time -v printed no peak RSS:\n{proc.stderr[-2000:]}")
    return wall, int(found.group(1)) / 1024, proc.stdout


def calibration() -> float:
    """Milliseconds for a fixed pure-Python loop (best of 5): on a shared machine whose speed
    drifts, figures from two runs compare only beside this."""
    import timeit

    return min(timeit.repeat("sum(range(10**6))", number=10, repeat=5)) / 10 * 1e3


def warm_up(tmp: Path) -> None:
    """Compile the bytecode every measured process imports, once, before anything is timed.

    A researcher's second ``motools`` command finds it compiled; a machine that sets
    ``PYTHONDONTWRITEBYTECODE`` (this one does) would otherwise make every measured process
    compile ~0.5 s of sources again. It goes to a folder in the temporary directory
    (``PYTHONPYCACHEPREFIX``), never into the checkout.
    """
    os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    root = tmp / "warm-up"
    root.mkdir()
    log = root / "jobs.log"
    log.touch()
    sweep = root / "sweep.yaml"
    sweep.write_text(SWEEP.format(members=2, log=log, lrs="[1.0e-6]", seeds="[0, 1]"))
    for cmd in (
        [*motools_cmd(), "sweep", "run", str(sweep), "--quiet", "--json"],
        [*motools_cmd(), "cache", "ls"],
        [*motools_cmd(), "runs", "--json"],
    ):
        measure(cmd, root / "home", root)
    _rmtree(root)


def median_of(runs: list[tuple[float, float, str]]) -> tuple[float, float]:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def report(figure: str, value: str, target: str, ok: bool | None, growth: str = "") -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    ROWS.append((figure, verdict))
    print(f"  {figure:<46} {value:>20}  target {target:<22} {growth:<26} {verdict}", flush=True)


def growth(now: float, before: float | None, unit: str) -> str:
    if before is None or before <= 0:
        return ""
    return f"x{now / before:.2f} vs 10x fewer ({before:.3g} {unit})"


# -- (workflow) --------------------------------------------------------------------------------
#: A few more words than dataset_io.py's, and longer answers: ~410 bytes a row.
WORDS = [*BASE_WORDS, "reward", "hacking", "persona", "evaluation", "judge", "sample"]


def write_chat_file(path: Path, rows: int, seed: int = 0) -> None:
    write_rows(path, rows, seed, words=WORDS, answer_words=18)


WORKFLOW_CONFIG = """\
seed: 1
prepare_dataset: {{dataset: "{data}"}}
submit_training: {{backend: dummy, model: gpt-4o-mini-2024-07-18, hyperparameters: {{n_epochs: 3}}}}
evaluate_model: {{backend: dummy, tasks: [hello_world], limit: 5}}
"""

LOAD_ALONE = (
    "import sys; from motools.datasets import JSONLDataset; JSONLDataset.load_sync(sys.argv[1])"
)


def bench_workflow(tmp: Path, sizes: list[int], repeat: int) -> None:
    print(
        f"\n(workflow) cold train_and_evaluate vs loading alone, {' / '.join(f'{n:,}' for n in sizes)} rows"
    )
    work = tmp / "workflow"
    work.mkdir()
    prev: dict[str, float] | None = None
    for n in sizes:
        data = work / f"chat-{n}.jsonl"
        write_chat_file(data, n)
        size_mb = data.stat().st_size / 1e6
        config = work / f"config-{n}.yaml"
        config.write_text(WORKFLOW_CONFIG.format(data=data))
        reps = repeat if n <= 100_000 else max(1, min(repeat, 2))
        load = median_of(
            [
                measure([sys.executable, "-c", LOAD_ALONE, str(data)], work / "h0", work)
                for _ in range(reps)
            ]
        )
        cold_runs = []
        for i in range(reps):
            home = work / f"home-{n}-{i}"  # a fresh store each time: every step cold
            cold_runs.append(
                measure(
                    [
                        *motools_cmd(),
                        "workflow",
                        "run",
                        "train_and_evaluate",
                        "--config",
                        str(config),
                        "--quiet",
                    ],
                    home,
                    work,
                )
            )
        cold = median_of(cold_runs)
        figures = {"load_s": load[0], "load_mib": load[1], "cold_s": cold[0], "cold_mib": cold[1]}
        print(f"  {n:,} rows ({size_mb:.0f} MB), median of {reps}:")

        def g(key: str, unit: str, now: dict[str, float] = figures, before: Any = prev) -> str:
            return growth(now[key], before[key] if before else None, unit)

        report(
            f"load alone, {n:,} rows: wall", f"{load[0]:.2f} s", "- (floor)", None, g("load_s", "s")
        )
        report(
            f"load alone, {n:,} rows: peak RSS",
            f"{load[1]:.0f} MiB",
            "- (floor)",
            None,
            g("load_mib", "MiB"),
        )
        report(
            f"cold workflow, {n:,} rows: wall",
            f"{cold[0]:.2f} s",
            "<= 12 s" if n >= 1_000_000 else "-",
            cold[0] <= 12 if n >= 1_000_000 else None,
            g("cold_s", "s"),
        )
        ratio = cold[1] / load[1]
        if n >= 1_000_000:
            target, ok = "<= 1536 MiB (1.5 GB)", cold[1] <= 1536
        elif n >= 100_000:
            target, ok = "<= 1.3x load, <= 200 MiB", ratio <= 1.3 and cold[1] <= 200
        else:
            target, ok = "-", None
        report(
            f"cold workflow, {n:,} rows: peak RSS",
            f"{cold[1]:.0f} MiB ({ratio:.2f}x)",
            target,
            ok,
            g("cold_mib", "MiB"),
        )
        prev = figures
        for i in range(reps):
            _rmtree(work / f"home-{n}-{i}")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# -- (listings) --------------------------------------------------------------------------------
def populate(home: Path, n: int) -> None:
    """``n`` records (step, training, eval in turn), newest last, written in one transaction.

    Rows go straight into the index through the store's own encoding (canonical JSON and its
    checksum), so filling 100k entries takes seconds; listings read only the index.
    """
    from motools.cache.store import SCHEMA_VERSION, Store, canonical_json, sha256_text

    store = Store(home)
    now = time.time()
    rows = []
    statuses = ("succeeded", "succeeded", "succeeded", "failed", "running")
    for i in range(n):
        kind = ("step", "training", "eval")[i % 3]
        key = sha256_text(f"bench-{i}")
        model_id = f"dummy/gpt-4o-mini@{key[:16]}"
        if kind == "training":
            label, backend, status = f"dummyjob-{key[:12]}", "dummy", statuses[i % 5]
            fields = {
                "backend": "dummy",
                "cache_version": "1",
                "dataset": key,
                "model": "gpt-4o-mini-2024-07-18",
                "hyperparameters": {
                    "n_epochs": 3,
                    "batch_size": "auto",
                    "learning_rate_multiplier": "auto",
                },
                "suffix": None,
                "seed": i,
            }
            value = {
                "job_id": label,
                "model_id": model_id,
                "submission": key[:32],
                "dataset_artifact": f"dataset:{key}",
                "submitted_at": now,
                "state": {
                    "backend": "dummy",
                    "job_id": label,
                    "model_id": model_id,
                    "base_model": "gpt-4o-mini-2024-07-18",
                    "created_at": now,
                    "duration": 0.0,
                    "fail": False,
                    "status": status,
                },
            }
        elif kind == "eval":
            label, backend, status = f"evaljob-{i}", "dummy", "succeeded"
            fields = {
                "backend": "dummy",
                "model_id": model_id,
                "tasks": [{"name": "hello_world", "identity": key[:16]}],
                "options": {},
            }
            value = {"results_blob": key, "model_id": model_id}
        else:
            label, backend, status = "train_and_evaluate.prepare_dataset", None, "succeeded"
            fields = {
                "kind": "step",
                "workflow": "train_and_evaluate",
                "step": "prepare_dataset",
                "version": "1",
                "config": {"dataset": f"data-{i}.jsonl"},
                "globals": {},
            }
            value = {"outputs_blob": key}
        value_json = canonical_json(value)
        stamp = now - (n - i)  # one second apart, the last one newest
        rows.append(
            (
                key,
                kind,
                SCHEMA_VERSION,
                status,
                backend,
                label,
                canonical_json(fields),
                value_json,
                sha256_text(value_json),
                stamp,
                stamp,
                None,
            )
        )
    with store.transaction() as conn:
        conn.executemany(
            f"INSERT INTO records ({store._COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    store._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def bench_listings(tmp: Path, sizes: list[int], repeat: int) -> None:
    print(
        f"\n(listings) cache ls / runs on stores of {' / '.join(f'{n:,}' for n in sizes)} entries"
    )
    work = tmp / "listings"
    work.mkdir()
    commands = {
        "cache ls": ["cache", "ls"],
        "runs": ["runs"],
        "runs --json": ["runs", "--json"],
        "runs --jsonl --limit 0 (all)": ["runs", "--jsonl", "--limit", "0"],
    }
    by_size: dict[int, dict[str, tuple[float, float]]] = {}
    for n in sizes:
        home = work / f"home-{n}"
        populate(home, n)
        figures = {}
        for name, argv in commands.items():
            runs = [measure([*motools_cmd(), *argv], home, work) for _ in range(repeat)]
            figures[name] = median_of(runs)
            lines = len(runs[-1][2].splitlines())
            figures[name + " lines"] = (lines, 0.0)
        by_size[n] = figures
    first, last = sizes[0], sizes[-1]
    for n in sizes:
        prev = by_size.get(n // 10)
        for name in commands:
            wall, peak = by_size[n][name]
            lines = int(by_size[n][name + " lines"][0])
            big = n == last and n >= 100_000
            t_target = {"cache ls": "< 0.25 s", "runs": "< 0.3 s", "runs --json": "< 0.3 s"}.get(
                name, "- (every run)"
            )
            limited = name in ("cache ls", "runs", "runs --json")
            t_ok = (wall < (0.25 if name == "cache ls" else 0.3)) if big and limited else None
            report(
                f"{name}, {n:,} entries: wall ({lines} lines)",
                f"{wall:.3f} s",
                t_target if big else "-",
                t_ok,
                growth(wall, prev[name][0] if prev else None, "s"),
            )
            m_ok = (peak < 60) if big and name.startswith("runs") else None
            report(
                f"{name}, {n:,} entries: peak RSS",
                f"{peak:.0f} MiB",
                "< 60 MiB" if m_ok is not None else "-",
                m_ok,
                growth(peak, prev[name][1] if prev else None, "MiB"),
            )
    flat = by_size[last]["cache ls"][0] / by_size[first]["cache ls"][0]
    report(
        f"cache ls flatness ({last:,} / {first:,} entries)",
        f"x{flat:.2f}",
        "flat (< 1.5x)",
        flat < 1.5,
    )


# -- (sweep) -----------------------------------------------------------------------------------
SWEEP = """\
name: bench-{members}
workflow: train_and_evaluate
max_parallel: 16
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


def bench_sweep(tmp: Path, sizes: list[int], repeat: int) -> None:
    print(f"\n(sweep) motools sweep run, {' / '.join(f'{n:,}' for n in sizes)} members (x10 seeds)")
    work = tmp / "sweep"
    work.mkdir()
    prev: dict[str, tuple[float, float]] | None = None
    for n in sizes:
        seeds = 10
        lrs = [round(1e-6 * (i + 1), 9) for i in range(max(1, n // seeds))]
        members = len(lrs) * seeds
        figures: dict[str, tuple[float, float]] = {}
        cold_runs, cached_runs = [], []
        for i in range(repeat):
            root = work / f"{n}-{i}"
            root.mkdir()
            log = root / "jobs.log"
            log.touch()
            sweep = root / "sweep.yaml"
            sweep.write_text(
                SWEEP.format(
                    members=members,
                    log=log,
                    lrs=json.dumps(lrs),
                    seeds=json.dumps(list(range(seeds))),
                )
            )
            cmd = [*motools_cmd(), "sweep", "run", str(sweep), "--quiet", "--json"]
            cold_runs.append(measure(cmd, root / "home", root))
            jobs = len(log.read_text().splitlines())
            if jobs != members:
                raise SystemExit(f"cold sweep submitted {jobs} jobs for {members} members")
            cached = measure(cmd, root / "home", root)
            counts = json.loads(cached[2])["counts"]
            if counts["cached"] != members or len(log.read_text().splitlines()) != members:
                raise SystemExit(f"cached sweep was not fully cached: {counts}")
            cached_runs.append(cached)
            _rmtree(root)
        figures["cold"] = median_of(cold_runs)
        figures["cached"] = median_of(cached_runs)
        big = members >= 2000
        for phase, limit in (("cached", 2.0), ("cold", 6.0)):
            wall, peak = figures[phase]
            report(
                f"{phase} sweep, {members:,} members: wall",
                f"{wall:.2f} s",
                f"< {limit:g} s" if big else "-",
                wall < limit if big else None,
                growth(wall, prev[phase][0] if prev else None, "s"),
            )
            report(
                f"{phase} sweep, {members:,} members: per member",
                f"{wall / members * 1e3:.2f} ms",
                "-",
                None,
            )
            report(
                f"{phase} sweep, {members:,} members: peak RSS",
                f"{peak:.0f} MiB",
                "-",
                None,
                growth(peak, prev[phase][1] if prev else None, "MiB"),
            )
        prev = figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["workflow", "listings", "sweep"],
        default=["workflow", "listings", "sweep"],
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--entries", type=int, nargs="+", default=[10, 10_000, 100_000])
    parser.add_argument("--members", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"CPU speed now: sum(range(10**6)) takes {calibration():.1f} ms (compare runs by it)")
    with tempfile.TemporaryDirectory(prefix="motools-scale-") as name:
        tmp = Path(name)
        os.environ["MOTOOLS_HOME"] = str(tmp / "bench-process-home")
        warm_up(tmp)
        if "workflow" in args.only:
            bench_workflow(tmp, args.rows, args.repeat)
        if "listings" in args.only:
            bench_listings(tmp, args.entries, args.repeat)
        if "sweep" in args.only:
            bench_sweep(tmp, args.members, args.repeat)
    print(f"\nCPU speed at the end: sum(range(10**6)) takes {calibration():.1f} ms")
    missed = [f for f, v in ROWS if v == "MISSED"]
    print(
        f"\nload at end {os.getloadavg()[0]:.2f}; "
        + ("all targets met" if not missed else f"MISSED: {'; '.join(missed)}")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
