"""``motools store info | use | init | push | pull``: which store, and moving between stores."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from motools.cli.output import print_json


def _local(root: Path) -> Any:
    from motools.cache.store import Store

    return Store(root, index="sqlite", blobs=str(root / "blobs"))


def _team(url: str, blobs: str | None, root: Path) -> Any:
    from motools.cache.location import resolve_location
    from motools.cache.store import Store

    if blobs is None:  # the blobs configured with this URL, if it is the configured store
        chosen = resolve_location(root)
        blobs = chosen.blobs if chosen.index == url else None
    return Store(root, index=url, blobs=blobs)


def cmd_store_info(args: argparse.Namespace) -> int:
    from motools.cache.location import resolve_location
    from motools.cache.store import open_store
    from motools.paths import home

    root = home()
    chosen = resolve_location(root)
    store = open_store()
    version, written_by = store.index.schema()
    info = {
        "home": str(root),
        "index": store.index.location,
        "dialect": store.index.dialect,
        "blobs": store.blobs.location,
        "chosen_by": chosen.source,
        "project": store.project,
        "schema_version": version,
        "schema_written_by": written_by,
        "read_only": store.read_only,
        "records": store.count(),
    }
    if args.json:
        print_json(info)
        return 0
    width = max(len(k) for k in info)
    for name, value in info.items():
        print(f"{name.replace('_', ' '):<{width}}  {value}")
    if store.read_only:
        print(store.index.read_only_reason)
    return 0


def cmd_store_use(args: argparse.Namespace) -> int:
    from motools.cache.blobs import open_blobs
    from motools.cache.location import normalise_index, refuse_passwords, save
    from motools.paths import home
    from motools.redaction import redact_url

    # Everything is checked before the file is written: a bad URL never lands in the config.
    refuse_passwords(args.url, args.blobs)
    normalise_index(args.url, "motools store use")
    open_blobs(args.blobs, home() / "blobs")
    if args.url.strip().lower() != "sqlite":
        _team(args.url, args.blobs, home()).index.connect()  # reachable, schema ok
    path = save(home(), args.url, args.blobs)
    print(f"wrote {path}: index {redact_url(args.url)}, blobs {args.blobs or 'in the home'}")
    return 0


def cmd_store_init(args: argparse.Namespace) -> int:
    from motools.cache.blobs import open_blobs
    from motools.paths import home

    open_blobs(args.blobs, home() / "blobs")  # a bad --blobs is an error, never ignored
    store = _team(args.url, args.blobs, home()) if args.url != "sqlite" else _local(home())
    before, after = store.index.upgrade()
    if args.json:
        print_json({"index": store.index.location, "before": before, "after": after})
    elif before == after:
        print(f"{store.index.location}: schema version {after}, nothing to do")
    else:
        print(f"{store.index.location}: schema upgraded from version {before} to {after}")
    return 0


def _transfer(source: Any, destination: Any, args: argparse.Namespace) -> int:
    from motools.cache.transfer import copy_store, describe

    def progress(counts: dict[str, int]) -> None:
        if not args.json:
            done = counts["records"] + counts["records_skipped"]
            print(f"  {done}/{counts['total_records']} records", file=sys.stderr, flush=True)

    if source.blobs.location == destination.blobs.location and not args.json:
        print(
            f"note: blobs stay in {source.blobs.location}; pass --blobs s3://bucket/prefix (or a "
            "shared folder) so that other machines can read them",
            file=sys.stderr,
        )
    counts = copy_store(source, destination, progress=progress)
    if args.json:
        print_json(counts)
    else:
        print(f"{source.location} -> {destination.location}: {describe(counts)}")
    return 0


def cmd_store_push(args: argparse.Namespace) -> int:
    from motools.paths import home

    root = home()
    return _transfer(_local(root), _team(args.url, args.blobs, root), args)


def cmd_store_pull(args: argparse.Namespace) -> int:
    from motools.paths import home

    root = home()
    return _transfer(_team(args.url, args.blobs, root), _local(root), args)
