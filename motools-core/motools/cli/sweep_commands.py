"""``motools sweep run | status | results | plot``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from motools.cli.output import print_json, table


class SweepProgress:
    """One line per finished member on stderr: count, parameters, outcome."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.quiet = quiet

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        clock = time.monotonic() - self.start
        if event["event"] == "start":
            print(
                f"[{clock:7.1f}s] sweep {event['sweep']}: {event['members']} members "
                f"(manifest {event['manifest']})",
                file=sys.stderr,
                flush=True,
            )
        elif event["event"] == "job":
            from motools.experiments.spec import short_params

            params = ", ".join(f"{k}={v}" for k, v in short_params(event["params"]).items())
            print(
                f"[{clock:7.1f}s] {event['label']} {params or 'base'}: training on "
                f"{event['backend']} as job {event['job_id']}",
                file=sys.stderr,
                flush=True,
            )
        elif event["event"] == "member":
            from motools.experiments.spec import short_params

            params = ", ".join(f"{k}={v}" for k, v in short_params(event["params"]).items())
            if event["status"] == "succeeded":
                outcome = "cached" if event["cached"] else "done"
            elif event["not_retried"]:
                outcome = "failed earlier (not retried; --retry-failed)"
            else:
                outcome = f"FAILED: {event['error']}"
            width = len(str(event["total"]))
            print(
                f"[{clock:7.1f}s] {event['done']:>{width}}/{event['total']} "
                f"{event['label']} {params or 'base'}: {outcome}",
                file=sys.stderr,
                flush=True,
            )


def cmd_sweep_run(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file
    from motools.experiments.spec import SweepSpec, expand
    from motools.experiments.sweep import run_sweep

    spec = SweepSpec.from_yaml(input_file(args.file, "sweep file (YAML)"))
    if args.dry_run:
        members = expand(spec)
        if args.json:
            print_json(
                {
                    "sweep": spec.sweep_id(),
                    "members": [{"label": m.label, "params": m.params} for m in members],
                }
            )
        else:
            print(table(["label", "parameters"], [[m.label, m.describe()] for m in members]))
            print(f"\n{len(members)} members; all configs valid (nothing was run)")
        return 0
    result = asyncio.run(
        run_sweep(
            spec,
            max_parallel=args.max_parallel,
            retry_failed=args.retry_failed,
            progress=SweepProgress(quiet=args.quiet or args.json),
        )
    )
    if args.json:
        print_json(result.to_dict())
        return 0 if result.ok else 1
    counts = result.counts()
    print(
        f"sweep {result.sweep_id}: {counts['succeeded']}/{counts['members']} succeeded "
        f"({counts['cached']} from the cache), {counts['failed']} failed "
        f"in {result.elapsed:.1f}s"
    )
    for backend, used in result.quotas.items():
        print(
            f"quota {backend}: at most {used['peak']}/{used['limit']} jobs in flight; "
            f"{used['waited']} submissions waited for a slot"
        )
    print(f"manifest: {result.manifest_path}")
    if result.failed:
        print("\nfailed members:")
        for m in result.failed:
            print(f"  {m.label} ({m.describe()}): {m.error}")
        if any(m.not_retried for m in result.failed):
            print("(members that failed in an earlier run were not run again: --retry-failed)")
        return 1
    return 0


def cmd_sweep_status(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file
    from motools.experiments.manifest import load_manifest

    manifest = load_manifest(input_file(args.file, "sweep file (YAML)"))
    rows = manifest.rows()
    if args.json:
        print_json(
            {
                "sweep": manifest.sweep_id,
                "manifest": str(manifest.path),
                "counts": manifest.counts(),
                "members": rows,
            }
        )
        return 0
    params = [k for k in (rows[0] if rows else {}) if k not in _STATUS_SKIP]
    headers = ["label", *params, "status", "job", "model"]
    body = [
        [r["label"], *[r[p] for p in params], _status(r), r["job_id"], r["model_id"]] for r in rows
    ]
    print(table(headers, body))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(manifest.counts().items()))
    print(f"\n{manifest.sweep_id}: {len(rows)} members: {counts}")
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed:
        print(f"  {r['label']} failed: {r['error']}")
    return 0


_STATUS_SKIP = {
    "label", "status", "cached", "backend", "job_id", "model_id", "eval_logs", "elapsed", "error",
}  # fmt: skip


def _status(row: dict[str, Any]) -> str:
    if row["status"] == "succeeded" and row.get("cached"):
        return "succeeded (cached)"
    return str(row["status"])


def cmd_sweep_results(args: argparse.Namespace) -> int:
    import warnings

    from motools.cli.errors import input_file, output_file
    from motools.experiments.tidy import ProtocolWarning, collate, collate_samples, summarise

    sweep_file = input_file(args.file, "sweep file (YAML)")
    if args.out:
        output_file(args.out, "--out")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ProtocolWarning)
        df = collate(sweep_file)
        samples = collate_samples(sweep_file)
    for w in caught:
        print(f"motools: warning: {w.message}", file=sys.stderr)
    if args.out:
        df.to_csv(args.out, index=False)
        print(f"wrote {len(df)} rows to {args.out}", file=sys.stderr)
    if df.empty:
        print("no results yet: no member has succeeded")
        return 0
    summary = summarise(df, samples=samples, method=args.ci, confidence=args.confidence)
    if args.json:
        print_json(summary.to_dict("records"))
        return 0
    print(table(list(summary.columns), summary.itertuples(index=False)))
    return 0


def cmd_sweep_plot(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file, output_file
    from motools.experiments.plots import plot_metric

    sweep_file = input_file(args.file, "sweep file (YAML)")
    output_file(args.out, "--out")
    if args.html:
        output_file(args.html, "--html")
    summary = plot_metric(
        sweep_file,
        args.metric.split(",") if "," in args.metric else args.metric,
        args.x,
        out=args.out,
        html=args.html,
        group=args.group.split(",") if args.group else None,
        facet=args.facet.split(",") if args.facet else None,
        task=args.task,
        scorer=args.scorer,
        method=args.ci,
        confidence=args.confidence,
        reference=args.reference,
        logx={"auto": None, "log": True, "linear": False}[args.xscale],
        dpi=args.dpi,
    )
    written = [args.out, *([args.html] if args.html else [])]
    print(f"wrote {' and '.join(written)} ({len(summary)} points)")
    return 0
