"""Cache and workflow benchmark (issue 6): cached re-runs, store-size flatness, a 200-config sweep.

Targets on the 2-core dev machine:

(a) a fully cached ``motools workflow run train_and_evaluate --quiet`` as a whole process:
    median wall < 1.0 s (``python -c pass`` and ``motools --help`` printed for reference);
(b) ``Store.get``, ``CachedTrainingBackend.lookup``, ``CachedEvalBackend.lookup`` and a cold
    dummy ``train_and_evaluate`` process with 10 and with 10,000 entries in the store:
    flat, i.e. the 10,000-entry figure within 2x of the 10-entry one;
(c) a 200-configuration sweep of ``train_and_evaluate`` on the dummy backends, run as one
    process (``run_workflow`` under ``asyncio.gather`` and a semaphore), cold then cached:
    wall time and peak memory (VmHWM of the sweep process) are reported; issue 6 sets no
    number, so the checks are that the cold sweep submits exactly one job per configuration,
    the cached sweep submits none and serves every step from the cache, and is faster.

Everything lives in temporary directories (``MOTOOLS_HOME`` and the working directory of every
child process point there). Stores for (b) hold records shaped exactly like those a real run
writes: one real ``train_and_evaluate`` run provides the templates (a ``step`` record with its
outputs blob, a ``training`` record with the run's resumable state, an ``eval`` record with its
results blob, and the dataset/training/model/eval provenance artifacts), then variants with
their own dataset hash, seed, job id and model id are written through ``Store.put``,
``Store.put_artifact`` and ``Store.put_blob`` (with fsync skipped while populating only).

    uv run python bench/cache_workflow.py [--repeat 7] [--sizes 10 10000] [--sweep 200] [--parallel 16]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"
TASKS = ["gsm8k", "hello_world"]

CONFIG_YAML = """\
seed: {seed}
prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 10}}
submit_training: {{backend: dummy, model: {model}, hyperparameters: {{n_epochs: 3, learning_rate: {lr}}}}}
evaluate_model: {{backend: dummy, tasks: [gsm8k, hello_world], limit: 5}}
"""


def config_dict(seed: int, lr: float = 1e-4) -> dict[str, Any]:
    return {
        "seed": seed,
        "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset", "sample_size": 10},
        "submit_training": {"backend": "dummy", "model": MODEL,
                            "hyperparameters": {"n_epochs": 3, "learning_rate": lr}},
        "evaluate_model": {"backend": "dummy", "tasks": TASKS, "limit": 5},
    }


def write_config(path: Path, seed: int, lr: str = "1e-4") -> Path:
    path.write_text(CONFIG_YAML.format(seed=seed, model=MODEL, lr=lr))
    return path


# -- whole processes ---------------------------------------------------------------------------
def motools_cmd() -> list[str]:
    script = Path(sys.executable).with_name("motools")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from motools.cli.main import main; sys.exit(main())"]


def child_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MOTOOLS_HOME"] = str(home)
    return env


def run_once(cmd: list[str], home: Path, cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=child_env(home), cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def median_time(cmd: list[str], home: Path, cwd: Path, repeat: int) -> tuple[float, list[float]]:
    times = [run_once(cmd, home, cwd)[0] for _ in range(repeat)]
    return statistics.median(times), times


def workflow_cmd(config: Path, *extra: str) -> list[str]:
    return [*motools_cmd(), "workflow", "run", "train_and_evaluate", "--config", str(config), *extra]


def step_statuses(stdout: str) -> dict[str, str]:
    return {name: s["status"] for name, s in json.loads(stdout)["steps"].items()}


# -- reporting ---------------------------------------------------------------------------------
ROWS: list[tuple[str, str, str, str]] = []


def report(figure: str, value: str, target: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("ok" if ok else "MISSED")
    ROWS.append((figure, value, target, verdict))
    print(f"  {figure:<58} {value:>14}   target: {target:<24} {verdict}", flush=True)


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s"


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us"


# -- (a) ---------------------------------------------------------------------------------------
def bench_cached_rerun(tmp: Path, repeat: int) -> None:
    print("\n(a) fully cached re-run of train_and_evaluate, whole process", flush=True)
    work = tmp / "a"
    work.mkdir()
    home = work / "home"
    config = write_config(work / "config.yaml", seed=1)
    cold, _ = run_once(workflow_cmd(config, "--quiet"), home, work)
    _, out = run_once(workflow_cmd(config, "--json", "--quiet"), home, work)
    statuses = step_statuses(out)
    if set(statuses.values()) != {"cached"}:
        raise SystemExit(f"second run was not fully cached: {statuses}")
    med, times = median_time(workflow_cmd(config, "--quiet"), home, work, repeat)
    passed, _ = median_time([sys.executable, "-c", "pass"], home, work, repeat)
    helped, _ = median_time([*motools_cmd(), "--help"], home, work, repeat)
    print(f"  runs: {', '.join(f'{t:.3f}' for t in times)} s; every step reported 'cached'")
    report("python -c pass (reference)", fmt_s(passed), "-", None)
    report("motools --help (reference)", fmt_s(helped), "-", None)
    report("cold first run (reference)", fmt_s(cold), "-", None)
    report(f"cached re-run, median of {repeat}", fmt_s(med), "< 1.0 s", med < 1.0)


# -- (b) ---------------------------------------------------------------------------------------
@contextmanager
def fsync_skipped() -> Iterator[None]:
    """Population only: durability of set-up data does not matter, its content does."""
    real = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        yield
    finally:
        os.fsync = real


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def real_run_templates(scratch: Path) -> dict[str, Any]:
    """Run train_and_evaluate once for real and return its records, blobs and artifacts."""
    from motools.cache import Store
    from motools.workflows import run_workflow

    store = Store(scratch)
    asyncio.run(run_workflow("train_and_evaluate", config_dict(seed=0), store=store))
    records = {r.kind: r for r in store.records()}
    if set(records) != {"step", "training", "eval"}:
        raise SystemExit(f"unexpected record kinds from a real run: {sorted(records)}")
    training, evaluation, step = records["training"], records["eval"], records["step"]
    dataset_artifact = store.get_artifact(training.value["dataset_artifact"])
    model_id = training.value["model_id"]
    templates = {
        "step": step,
        "step_outputs": store.get_json_blob(step.value["outputs_blob"]),
        "training": training,
        "eval": evaluation,
        "eval_results": store.get_json_blob(evaluation.value["results_blob"]),
        "dataset_artifact": dataset_artifact,
        "dataset_bytes": store.get_blob(dataset_artifact["blob"]),
        "training_artifact": store.get_artifact(f"training:{training.key}"),
        "model_artifact": store.get_artifact(f"model:{model_id}"),
        "eval_artifact": store.get_artifact(f"eval:{evaluation.key}"),
    }
    missing = [k for k, v in templates.items() if v is None]
    if missing:
        raise SystemExit(f"a real run did not write {missing}")
    store.close()
    return templates


def populate(home: Path, n: int, tpl: dict[str, Any]) -> None:
    """Write ``n`` records (step, training, eval in turn) plus their artifacts and blobs."""
    from motools.cache import Store, key_of

    store = Store(home)
    model_base = tpl["training"].value["model_id"].split("@", 1)[0]
    with fsync_skipped():
        for i in range(n):
            run = i // 3
            seed = 100_000 + run
            dataset_hash = _digest("bench-dataset", run)
            dataset_artifact = f"dataset:{dataset_hash}"
            model_id = f"{model_base}@{_digest('bench-model', run)[:16]}"
            job_id = f"dummyjob-{_digest('bench-job', run)[:12]}"
            kind = ("step", "training", "eval")[i % 3]
            if kind == "step":
                fields = copy.deepcopy(tpl["step"].fields)
                fields["globals"]["seed"] = seed
                outputs = copy.deepcopy(tpl["step_outputs"])
                ds_blob = store.put_blob(tpl["dataset_bytes"] + f"\n{run}\n".encode())
                outputs["dataset"].update(artifact=dataset_artifact, content_hash=dataset_hash, blob=ds_blob)
                store.put(key_of(fields), kind="step", status="succeeded", fields=fields,
                          label=tpl["step"].label, value={"outputs_blob": store.put_json_blob(outputs)})
                art = tpl["dataset_artifact"]
                store.put_artifact(dataset_artifact, kind="dataset", inputs=[],
                                   config={**art["config"], "content_hash": dataset_hash},
                                   versions=art["versions"], blob=ds_blob)
            elif kind == "training":
                fields = copy.deepcopy(tpl["training"].fields)
                fields.update(dataset=dataset_hash, seed=seed)
                key = key_of(fields)
                value = copy.deepcopy(tpl["training"].value)
                now = time.time()
                value["state"].update(job_id=job_id, model_id=model_id, created_at=now)
                value.update(job_id=job_id, model_id=model_id, dataset_artifact=dataset_artifact,
                             submitted_at=now)
                store.put(key, kind="training", status="succeeded", fields=fields, backend="dummy",
                          label=job_id, value=value)
                versions = tpl["training_artifact"]["versions"]
                store.put_artifact(f"training:{key}", kind="training", inputs=[dataset_artifact],
                                   config={**fields, "job_id": job_id}, versions=versions)
                store.put_artifact(f"model:{model_id}", kind="model", inputs=[f"training:{key}"],
                                   config={"model_id": model_id}, versions=versions)
            else:
                fields = copy.deepcopy(tpl["eval"].fields)
                fields["model_id"] = model_id
                key = key_of(fields)
                results = copy.deepcopy(tpl["eval_results"])
                results["model_id"] = model_id
                blob = store.put_json_blob(results)
                store.put(key, kind="eval", status="succeeded", fields=fields, backend="dummy",
                          label=f"evaljob-{run}", value={"results_blob": blob, "model_id": model_id})
                store.put_artifact(f"eval:{key}", kind="eval", inputs=[f"model:{model_id}"],
                                   config=fields, versions=tpl["eval_artifact"]["versions"], blob=blob)
    store._connect().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def per_call(fn: Callable[[], Any], number: int, repeat: int = 5) -> float:
    """Median over ``repeat`` batches of the mean time of one call."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


def per_await(make: Callable[[], Any], number: int, repeat: int = 5) -> float:
    async def batch() -> float:
        start = time.perf_counter()
        for _ in range(number):
            await make()
        return (time.perf_counter() - start) / number

    loop = asyncio.new_event_loop()
    try:
        return statistics.median(loop.run_until_complete(batch()) for _ in range(repeat))
    finally:
        loop.close()


def measure_lookups(home: Path) -> dict[str, float]:
    """Lookup times in this process, on a store that holds one real run plus the filler."""
    import warnings

    from motools.cache import CachedEvalBackend, CachedTrainingBackend, Store
    from motools.demo import hello_world_dataset
    from motools.evals.backends.dummy import DummyEvalBackend
    from motools.training.backends.dummy import DummyTrainingBackend

    store = Store(home)
    training = CachedTrainingBackend(DummyTrainingBackend(), store)
    evals = CachedEvalBackend(DummyEvalBackend(), store)
    dataset = hello_world_dataset(10, seed=7)
    hp = {"n_epochs": 3, "learning_rate": 1e-4}

    async def real_entries() -> str:
        run = await training.train(dataset, MODEL, hp, seed=7)
        model_id = await run.wait()
        await (await evals.evaluate(model_id, TASKS, limit=5)).wait()
        return str(model_id)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a corrupt or unreadable record would be a bench bug
        model_id = asyncio.run(real_entries())
        hit_key = training.key_fields(dataset, MODEL, hp, seed=7)
        from motools.cache import key_of

        hit_key = key_of(hit_key)
        assert store.get(hit_key) is not None
        assert asyncio.run(training.lookup(dataset, MODEL, hp, seed=7)).outcome == "hit"
        assert evals.lookup(model_id, TASKS, limit=5).outcome == "hit"
        miss_hp = {"n_epochs": 4, "learning_rate": 1e-4}
        figures = {
            "Store.get hit": per_call(lambda: store.get(hit_key), 2000),
            "Store.get miss": per_call(lambda: store.get("0" * 64), 2000),
            "CachedTrainingBackend.lookup hit": per_await(
                lambda: training.lookup(dataset, MODEL, hp, seed=7), 200),
            "CachedTrainingBackend.lookup miss": per_await(
                lambda: training.lookup(dataset, MODEL, miss_hp, seed=7), 200),
            "CachedEvalBackend.lookup hit": per_call(lambda: evals.lookup(model_id, TASKS, limit=5), 500),
            "CachedEvalBackend.lookup miss": per_call(
                lambda: evals.lookup(model_id + "x", TASKS, limit=5), 500),
        }
    store.close()
    return figures


def bench_store_sizes(tmp: Path, sizes: list[int], repeat: int) -> None:
    print(f"\n(b) cache lookups and a cold dummy workflow with {' vs '.join(f'{n:,}' for n in sizes)} entries",
          flush=True)
    from motools.cache import Store

    work = tmp / "b"
    work.mkdir()
    tpl = real_run_templates(work / "scratch-home")
    by_size: dict[int, dict[str, float]] = {}
    seed = 1_000
    for n in sizes:
        home = work / f"home-{n}"
        start = time.perf_counter()
        populate(home, n, tpl)
        fill = time.perf_counter() - start
        store = Store(home)
        count = store.count()
        artifacts = store._connect().execute("SELECT COUNT(*) FROM artifacts").fetchone()[0]
        kinds = dict(store._connect().execute("SELECT kind, COUNT(*) FROM records GROUP BY kind").fetchall())
        store.close()
        db_mb = sum(p.stat().st_size for p in home.glob("index.db*")) / 1e6
        blobs = sum(1 for _ in (home / "blobs").glob("*/*"))
        print(f"  store with {n:,} entries: {count:,} records "
              f"({', '.join(f'{k} {v:,}' for k, v in sorted(kinds.items()))}), {artifacts:,} artifacts, "
              f"{blobs:,} blobs, index {db_mb:.1f} MB (filled in {fill:.1f} s)", flush=True)
        figures = measure_lookups(home)
        cold_times = []
        for _ in range(repeat):  # a new seed each time: new dataset sample, every step cold
            seed += 1
            config = write_config(work / f"cold-{seed}.yaml", seed=seed)
            cold_times.append(run_once(workflow_cmd(config, "--quiet"), home, work)[0])
        figures["cold workflow process (median)"] = statistics.median(cold_times)
        _, out = run_once(workflow_cmd(config, "--json", "--quiet"), home, work)
        assert set(step_statuses(out).values()) == {"cached"}
        figures["cached workflow process (median)"] = median_time(
            workflow_cmd(config, "--quiet"), home, work, repeat)[0]
        by_size[n] = figures
    small, large = by_size[sizes[0]], by_size[sizes[-1]]
    for name in small:
        a, b = small[name], large[name]
        fmt = fmt_s if "process" in name else fmt_us
        ratio = b / a if a else float("inf")
        report(f"{name}: {sizes[0]:,} -> {sizes[-1]:,}", f"{fmt(a)} -> {fmt(b)}", "", None)
        report(f"  ratio ({sizes[-1]:,} / {sizes[0]:,})", f"{ratio:.2f}x", "<= 2x (flat)", ratio <= 2.0)


# -- (c) ---------------------------------------------------------------------------------------
DRIVER = r'''
"""A sweep of train_and_evaluate: N configurations, asyncio.gather under a semaphore."""
import asyncio, json, sys, time

started = time.perf_counter()
from motools.workflows import get_workflow, run_workflow

N, PARALLEL, JOB_LOG = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SEEDS = 10


def config(i):
    return {
        "seed": i % SEEDS,  # 10 datasets, each shared by 20 learning rates
        "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset", "sample_size": 10},
        "submit_training": {"backend": "dummy", "model": "gpt-4o-mini-2024-07-18",
                            "hyperparameters": {"n_epochs": 3, "learning_rate": 1e-5 * (1 + i // SEEDS)},
                            "backend_options": {"job_log": JOB_LOG}},
        "evaluate_model": {"backend": "dummy", "tasks": ["gsm8k", "hello_world"], "limit": 5},
    }


async def main():
    workflow = get_workflow("train_and_evaluate")
    semaphore = asyncio.Semaphore(PARALLEL)

    async def one(i):
        async with semaphore:
            return await run_workflow(workflow, config(i))

    return await asyncio.gather(*(one(i) for i in range(N)))


imported = time.perf_counter()
results = asyncio.run(main())
done = time.perf_counter()
statuses = {}
for result in results:
    for name, step in result.steps.items():
        statuses[f"{name}:{step.status}"] = statuses.get(f"{name}:{step.status}", 0) + 1
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({
    "import_s": imported - started, "sweep_s": done - imported, "vmhwm_kb": hwm,
    "models": len({r.artifacts["model_id"] for r in results}), "statuses": statuses,
}))
'''


def bench_sweep(tmp: Path, n: int, parallel: int) -> None:
    print(f"\n(c) {n}-configuration sweep of train_and_evaluate (dummy backends, {parallel} at a time)",
          flush=True)
    work = tmp / "c"
    work.mkdir()
    home = work / "home"
    driver = work / "sweep.py"
    driver.write_text(DRIVER)
    job_log = work / "jobs.jsonl"
    job_log.touch()
    figures = {}
    for phase in ("cold", "cached"):
        jobs_before = len(job_log.read_text().splitlines())
        wall, out = run_once([sys.executable, str(driver), str(n), str(parallel), str(job_log)], home, work)
        data = json.loads(out.strip().splitlines()[-1])
        jobs = len(job_log.read_text().splitlines()) - jobs_before
        figures[phase] = wall
        statuses = ", ".join(f"{k}={v}" for k, v in sorted(data["statuses"].items()))
        print(f"  {phase}: imports {data['import_s']:.2f} s, sweep {data['sweep_s']:.2f} s, "
              f"{data['models']} distinct models; {statuses}", flush=True)
        report(f"{phase} sweep, whole process wall", fmt_s(wall), "none set (reported)", None)
        report(f"{phase} sweep, per configuration", f"{wall / n * 1e3:.1f} ms", "-", None)
        report(f"{phase} sweep, peak memory (VmHWM)", f"{data['vmhwm_kb'] / 1024:.1f} MB",
               "none set (reported)", None)
        want = n if phase == "cold" else 0
        report(f"{phase} sweep, dummy jobs submitted", str(jobs), f"== {want}", jobs == want)
        if phase == "cached":
            cached = sum(v for k, v in data["statuses"].items() if k.endswith(":cached"))
            report("cached sweep, steps served from cache", f"{cached}/{4 * n}", f"== {4 * n}",
                   cached == 4 * n)
    report("cached sweep faster than cold", f"{figures['cached'] / figures['cold']:.2f}x",
           "< 1x", figures["cached"] < figures["cold"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="process runs per timing (median)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000],
                        help="store sizes (entries) for (b); the first and last are compared")
    parser.add_argument("--sweep", type=int, default=200, help="configurations in (c)")
    parser.add_argument("--parallel", type=int, default=16, help="workflows at a time in (c)")
    parser.add_argument("--only", choices=["a", "b", "c"], nargs="+", default=["a", "b", "c"])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="motools-bench-") as name:
        tmp = Path(name)
        os.environ["MOTOOLS_HOME"] = str(tmp / "bench-process-home")  # nothing lands in the repo
        if "a" in args.only:
            bench_cached_rerun(tmp, args.repeat)
        if "b" in args.only:
            bench_store_sizes(tmp, args.sizes, args.repeat)
        if "c" in args.only:
            bench_sweep(tmp, args.sweep, args.parallel)
    missed = [r for r in ROWS if r[3] == "MISSED"]
    print(f"\nload at end {os.getloadavg()[0]:.2f}; "
          + ("all targets met" if not missed else f"MISSED: {'; '.join(r[0].strip() for r in missed)}"))


if __name__ == "__main__":
    main()
