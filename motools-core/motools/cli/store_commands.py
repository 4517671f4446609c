"""``motools train``, ``eval``, ``cache``, ``runs`` and ``provenance``: commands over the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from motools.cli.output import error, print_json, results_table, table


def _age(ts: float) -> str:
    seconds = max(0, time.time() - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _training_request(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    from motools.api import Composer
    from motools.cli.commands import parse_assignments
    from motools.cli.errors import input_file
    from motools.dataset_refs import load_dataset_ref
    from motools.refs import parse_ref

    hp = parse_assignments(args.hp)
    backend_options = parse_assignments(args.backend_option, "--backend-option", "duration=5")
    if parse_ref(args.dataset, what="--dataset").kind in ("path", "pyfile"):
        input_file(args.dataset, "JSONL dataset", "--dataset")
    backend = Composer().cached_training(
        args.backend, backend_options, force=vars(args).get("force", False)
    )
    dataset = asyncio.run(load_dataset_ref(args.dataset))
    return backend, dataset, hp


def cmd_train(args: argparse.Namespace) -> int:
    backend, dataset, hp = _training_request(args)
    options: dict[str, Any] = {}
    if args.seed is not None:
        options["seed"] = args.seed

    async def go() -> dict[str, Any]:
        run = await backend.train(dataset, args.model, hp, args.suffix, **options)
        info: dict[str, Any] = {
            "run_id": run.job_id,
            "backend": args.backend,
            "status": run.status,
            "model_id": run.model_id,
            "cache_key": run.cache_key,
            "from_cache": run.from_cache,
            "attached": run.attached,
        }
        if not args.json:
            how = (
                "cached"
                if info["from_cache"]
                else ("re-attached to" if info["attached"] else "submitted")
            )
            print(f"{how} {args.backend} job {run.job_id}", file=sys.stderr)
        if args.detach:
            return info

        def show(r: Any) -> None:
            if not args.json:
                print(f"  {r.job_id}: {r.status}", file=sys.stderr)

        info["model_id"] = await run.wait(on_status=show)
        info["status"] = run.status
        return info

    info = asyncio.run(go())
    if args.json:
        print_json(info)
    else:
        print(info["run_id"] if args.detach else info["model_id"])
    return 0


def _check_tasks(tasks: list[str]) -> None:
    """Task references parse, and a task file (``tasks.py@name``) exists."""
    from motools.cli.errors import input_file
    from motools.refs import parse_ref

    for task in tasks:
        ref = parse_ref(task, what="--task")
        if ref.kind in ("path", "pyfile") and ref.path is not None:
            input_file(str(ref.path), "task file", "--task")


def cmd_eval(args: argparse.Namespace) -> int:
    from motools.api import Composer
    from motools.cli.commands import parse_assignments

    _check_tasks(args.task)
    backend = Composer().cached_eval(
        args.backend,
        parse_assignments(args.backend_option, "--backend-option", "samples=5"),
        force=args.force,
    )
    options = parse_assignments(args.option, "--option", "temperature=1")
    if args.limit is not None:
        options["limit"] = args.limit

    async def go() -> Any:
        return await (await backend.evaluate(args.model, args.task, **options)).wait()

    results = asyncio.run(go())
    if args.json:
        print_json(results.to_dict())
        return 0
    print(results_table(results))
    if results.metadata.get("from_cache"):
        print("(from cache)", file=sys.stderr)
    return 0


def _since(text: str | None) -> float | None:
    """``--since``: an age (``30m``, ``2h``, ``3d``, ``45s``) or a local date/time."""
    if not text:
        return None
    from datetime import datetime

    from motools.errors import MotoolsError

    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip()
    if value[-1:].lower() in units:
        try:
            return time.time() - float(value[:-1]) * units[value[-1].lower()]
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise MotoolsError(
            f"--since {text!r}: give an age (30m, 2h, 3d) or a date/time (2025-01-31, "
            "2025-01-31T12:00)"
        ) from None


def _listing(args: argparse.Namespace, kind: str | None) -> tuple[Any, dict[str, Any]]:
    from motools.cache import open_store
    from motools.errors import MotoolsError

    if args.limit < 0 or args.offset < 0:
        raise MotoolsError("--limit and --offset must be 0 or more")
    filters: dict[str, Any] = {
        "kind": kind,
        "project": vars(args).get("project"),
        "status": [s.strip() for s in args.status.split(",") if s.strip()] if args.status else None,
        "since": _since(args.since),
    }
    return open_store(), filters


def _stream(rows: Any, args: argparse.Namespace) -> int:
    """Write ``rows`` (dicts) as JSON lines or as one JSON array, one row at a time."""
    import json

    out = sys.stdout
    if args.jsonl:
        for row in rows:
            out.write(json.dumps(row, default=str) + "\n")
        return 0
    out.write("[")
    for i, row in enumerate(rows):
        out.write(("," if i else "") + "\n  " + json.dumps(row, default=str))
    out.write("\n]\n")
    return 0


def _page(records: Any, args: argparse.Namespace) -> tuple[list[Any], bool]:
    """The page of ``records`` (read with one extra row) and whether more matched."""
    rows = list(records)
    more = bool(args.limit) and len(rows) > args.limit
    return (rows[: args.limit] if more else rows), more


def _more(args: argparse.Namespace, shown: int) -> None:
    """Say (on stderr) that the page does not hold everything that matched."""
    print(
        f"({shown} newest shown; --offset {args.offset + shown} for the next page, "
        "--limit 0 for all)",
        file=sys.stderr,
    )


def cmd_cache_ls(args: argparse.Namespace) -> int:
    store, filters = _listing(args, args.kind)
    if args.json or args.jsonl:
        records = store.iter_records(limit=args.limit, offset=args.offset, **filters)
        return _stream((r.to_dict() for r in records), args)
    page, more = _page(
        store.iter_records(limit=_plus_one(args), offset=args.offset, **filters), args
    )
    rows = [
        [r.key[:12], r.kind, r.backend, r.status, r.label, _summary(r), _age(r.updated_at)]
        for r in page
    ]
    print(table(["key", "kind", "backend", "status", "label", "what", "age"], rows))
    if more:
        _more(args, len(rows))
    return 0


def _plus_one(args: argparse.Namespace) -> int:
    return args.limit + 1 if args.limit else 0


def _summary(record: Any) -> str:
    f = record.fields
    if record.kind == "training":
        return f"{f.get('model')} on {str(f.get('dataset'))[:8]} -> {record.value.get('model_id') or '…'}"
    if record.kind == "eval":
        return f"{f.get('model_id')} on {', '.join(t.get('name', '?') for t in f.get('tasks', []))}"
    if record.kind == "step":
        return f"{f.get('workflow')}.{f.get('step')}"
    return ""


def _one_record(ref: str) -> Any:
    from motools.cache import open_store
    from motools.errors import MotoolsError

    matches = open_store().find(ref)
    if not matches:
        raise MotoolsError(f"no cache entry or run matches {ref!r}")
    if len(matches) > 1:
        raise MotoolsError(f"{ref!r} is ambiguous: {', '.join(m.key[:12] for m in matches[:5])}")
    return matches[0]


def cmd_cache_show(args: argparse.Namespace) -> int:
    print_json(_one_record(args.key).to_dict())
    return 0


def cmd_cache_explain(args: argparse.Namespace) -> int:
    from motools.cache.explain import explain

    if args.what == "train":
        backend, dataset, hp = _training_request(args)
        options = {"seed": args.seed} if args.seed is not None else {}
        found = asyncio.run(backend.lookup(dataset, args.model, hp, args.suffix, **options))
        store = backend.store
    else:
        from motools.api import Composer
        from motools.cli.commands import parse_assignments

        _check_tasks(args.task)
        evals = Composer().cached_eval(
            args.backend, parse_assignments(args.backend_option, "--backend-option", "samples=5")
        )
        options = parse_assignments(args.option, "--option", "temperature=1")
        if args.limit is not None:
            options["limit"] = args.limit
        found = evals.lookup(args.model, args.task, **options)
        store = evals.store
    report = explain(found, store)
    if args.json:
        print_json(report)
        return 0
    print(f"{found.outcome.upper()}: {found.reason}")
    print(f"key {found.key}")
    if "nearest" in report:
        near = report["nearest"]
        print(f"nearest entry {near['key'][:12]} ({near['status']}, {near['label']}):")
        print(f"  matched: {', '.join(report['matched'])}")
        for name, pair in near["differs"].items():
            print(f"  differs: {name}: wanted {pair['wanted']!r}, cached {pair['cached']!r}")
    elif found.outcome == "miss":
        print("no other entry for this backend to compare with")
    return 0


def cmd_cache_gc(args: argparse.Namespace) -> int:
    from motools.cache import open_store

    removed = open_store().gc(
        older_than=args.older_than_days * 86400 if args.older_than_days is not None else None
    )
    if args.json:
        print_json(removed)
        return 0
    counts = {k: v for k, v in removed.items() if k not in ("kept", "kept_in_flight")}
    print(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items()) + " removed")
    if removed["kept"]:
        print(
            f"kept {removed['kept_in_flight']} record(s) of jobs that may still be running "
            "(dropping them would pay for the job again):"
        )
        for entry in removed["kept"]:
            print(f"  {entry['key'][:12]}  {entry['label'] or '-'}  {entry['status']}")
    return 0


def cmd_cache_verify(args: argparse.Namespace) -> int:
    from motools.cache import open_store

    store = open_store()
    report = store.verify(repair=args.repair)
    if args.json:
        print_json(report)
    else:
        print(
            f"checked {report['records']} records and {report['blobs']} blobs in {store.location}: "
            f"{len(report['problems'])} problem(s)"
        )
        for problem in report["problems"]:
            print(f"  problem: {problem}")
        for fixed in report["fixed"]:
            print(f"  fixed: {fixed}")
        if report["problems"] and not args.repair:
            print("run `motools cache verify --repair` to fix them")
    return 1 if report["problems"] and not args.repair else 0


def cmd_cache_forget(args: argparse.Namespace) -> int:
    from motools.cache import open_store
    from motools.errors import MotoolsError

    store = open_store()
    matches = store.entries(args.key)
    if not matches:
        raise MotoolsError(f"no cache entry or run matches {args.key!r}")
    if len(matches) > 1:
        raise MotoolsError(
            f"{args.key!r} is ambiguous: {', '.join(m[0][:12] for m in matches[:5])}"
        )
    key, kind, label, status = matches[0]
    store.delete(key)
    print(f"forgot {kind} entry {key[:12]} ({label or status})")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    store, filters = _listing(args, "training")
    if args.json or args.jsonl:
        records = store.iter_records(limit=args.limit, offset=args.offset, **filters)
        return _stream(
            (
                {
                    "run_id": r.label,
                    "key": r.key,
                    "backend": r.backend,
                    "status": r.status,
                    "model_id": r.value.get("model_id"),
                    "updated_at": r.updated_at,
                }
                for r in records
            ),
            args,
        )
    page, more = _page(
        store.iter_records(limit=_plus_one(args), offset=args.offset, **filters), args
    )
    rows = [
        [
            r.label,
            r.backend,
            r.status,
            r.value.get("model_id"),
            r.fields.get("model"),
            _age(r.created_at),
        ]
        for r in page
    ]
    print(table(["run", "backend", "status", "model_id", "base model", "age"], rows))
    if more:
        _more(args, len(rows))
    return 0


def _attach(ref: str) -> Any:
    from motools.api import Composer

    record = _one_record(ref)
    if record.kind != "training":
        from motools.errors import MotoolsError

        raise MotoolsError(f"{ref!r} is a {record.kind} entry, not a training run")

    async def resume() -> Any:
        return await Composer().resume(record.value["state"], cache_key=record.key)

    return record, resume


def cmd_runs_events(args: argparse.Namespace) -> int:
    """Events of a run, from any process or machine that shares the store."""
    _record, resume = _attach(args.run)

    async def go() -> list[dict[str, Any]]:
        return await (await resume()).events()

    events = asyncio.run(go())
    if args.json:
        print_json(events)
        return 0
    for event in events:
        rest = ", ".join(f"{k}={v}" for k, v in event.items() if k != "type")
        print(f"{event.get('type', '?')}: {rest}")
    if not events:
        print("(no events reported yet)", file=sys.stderr)
    return 0


def cmd_runs_wait(args: argparse.Namespace) -> int:
    _record, resume = _attach(args.run)

    async def go() -> str:
        run = await resume()
        return str(
            await run.wait(on_status=lambda r: print(f"  {r.job_id}: {r.status}", file=sys.stderr))
        )

    print(asyncio.run(go()))
    return 0


def cmd_runs_cancel(args: argparse.Namespace) -> int:
    record, resume = _attach(args.run)

    async def go() -> str:
        run = await resume()
        await run.cancel()
        await run.refresh()
        return str(run.status)

    print(f"{record.label}: {asyncio.run(go())}")
    return 0


def cmd_provenance(args: argparse.Namespace) -> int:
    from motools.provenance import trace

    try:
        chain = trace(args.id)
    except LookupError as exc:
        error(str(exc))
        return 1
    if args.json:
        print_json(chain)
        return 0
    for depth, artifact in enumerate(chain):
        pad = "  " * depth
        print(f"{pad}{artifact['id']}  ({artifact['kind']}, {artifact.get('created', '?')})")
        cfg = artifact.get("config", {})
        shown = {k: v for k, v in cfg.items() if k not in ("kind",)}
        for k, v in shown.items():
            print(f"{pad}    {k}: {v}")
        if artifact.get("versions"):
            print(
                f"{pad}    versions: {', '.join(f'{k} {v}' for k, v in artifact['versions'].items())}"
            )
        if artifact.get("made_by"):
            print(f"{pad}    made by: {artifact['made_by']} (project {artifact.get('project')})")
        if artifact.get("blob_path"):
            print(f"{pad}    bytes: {artifact['blob_path']}")
    return 0
