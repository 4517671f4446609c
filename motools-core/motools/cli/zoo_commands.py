"""``motools zoo``: the datasets and tasks plugins register (``register_datasets``/``_tasks``).

Generic over every plugin: it prints the names and the metadata each registration carries
(source, commit, license, size, citation, content pin, protocol). Two metadata keys have a
meaning here: ``pin`` (``"sha256 <hex>"`` / ``"git blob <hex>"``, or a dict of them per file;
``sha256`` is read when there is no ``pin``) and ``reference``, a task's published headline
numbers: a list of ``{metric, value, model, condition, source, checked, note}``.
"""

from __future__ import annotations

import argparse
from typing import Any

from motools.cli.output import print_json, table

_KINDS = ("dataset", "task")


def _entries(kind: str | None) -> list[tuple[str, Any]]:
    from motools.plugins import list_registrations

    kinds = [kind] if kind else list(_KINDS)
    return [(k, r) for k in kinds for r in list_registrations(k)]  # type: ignore[arg-type]


def _as_dict(kind: str, reg: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": reg.name,
        "plugin": reg.plugin,
        "target": reg.target if isinstance(reg.target, str) else repr(reg.target),
        "description": reg.description,
        "metadata": reg.metadata,
    }


def _short_pin(pin: str) -> str:
    kind, _, digest = pin.rpartition(" ")
    return f"{kind} {digest[:12]}" if kind and len(digest) >= 40 else pin


def _pinning(meta: dict[str, Any]) -> str:
    pin = meta.get("pin", meta.get("sha256"))
    if isinstance(pin, str) and len(pin) == 64:
        pin = "sha256 " + pin
    if isinstance(pin, str):
        return _short_pin(pin)
    if isinstance(pin, dict) and not pin:
        return "no files"
    if isinstance(pin, dict):
        kinds = sorted({str(p).rpartition(" ")[0] or str(p) for p in pin.values()})
        return f"{len(pin)} file{'s' if len(pin) != 1 else ''} ({', '.join(kinds) or '-'})"
    return "NOT PINNED"


def _size(meta: dict[str, Any]) -> str:
    rows, size = meta.get("rows"), meta.get("size_bytes")
    parts = []
    if rows is not None:
        parts.append(f"{rows} rows")
    if isinstance(size, int):
        parts.append(f"{size} B")
    return ", ".join(parts) or "-"


def cmd_zoo_list(args: argparse.Namespace) -> int:
    entries = _entries(args.kind)
    if args.json:
        print_json([_as_dict(k, r) for k, r in entries])
        return 0
    rows = [
        [
            k,
            r.name,
            r.plugin,
            r.metadata.get("license", "-"),
            _size(r.metadata) if k == "dataset" else _protocol_short(r.metadata),
            _pinning(r.metadata),
            r.description,
        ]
        for k, r in entries
    ]
    print(
        table(
            ["kind", "name", "plugin", "license", "size/protocol", "pinned", "description"],
            rows,
            keep=("name", "pinned"),  # the names users type (and the pins) are never cut
            wrap=("description",),
        )
    )
    blob = [f"{k} {r.name}" for k, r in entries if "git blob" in str(r.metadata.get("pin", ""))]
    if blob:
        print(
            f"\n{len(blob)} entries are pinned by git blob id (verified on download; the sha256 "
            "is then recorded in the motools home): " + ", ".join(blob)
        )
    return 0


def _protocol_short(meta: dict[str, Any]) -> str:
    p = meta.get("protocol")
    if not isinstance(p, dict):
        return "-"
    judge = p.get("judge_model") or "no judge"
    return f"n={p.get('samples_per_question')} T={p.get('temperature')} {judge}"


def _format_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _reference_lines(refs: Any) -> list[str]:
    if not isinstance(refs, list) or not refs:
        return ["  reference: none (no paper reports a number for this task)"]
    lines = ["  reference (the paper's headline numbers):"]
    for ref in refs:
        if not isinstance(ref, dict):
            lines.append(f"    {ref}")
            continue
        value = ref.get("value")
        shown = "no number" if value is None else f"{value:g}"
        if value is not None and not ref.get("checked", True):
            shown += " (not checked)"
        lines.append(
            f"    {ref.get('metric')} = {shown}: {ref.get('model')}; {ref.get('condition')}"
        )
        lines.append(f"      source: {ref.get('source')}")
        if ref.get("note"):
            lines.append(f"      note: {ref.get('note')}")
    return lines


def cmd_zoo_show(args: argparse.Namespace) -> int:
    from motools.plugins import get_registration, registrations

    kinds = [args.kind] if args.kind else [k for k in _KINDS if args.name in registrations(k)]  # type: ignore[arg-type]
    if not kinds:
        import difflib

        from motools.errors import UnknownBackendError

        known = sorted({n for k in _KINDS for n in registrations(k)})  # type: ignore[arg-type]
        close = difflib.get_close_matches(args.name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownBackendError(
            f"No dataset or task named {args.name!r}.{hint} Registered: {', '.join(known)}. "
            "(`motools zoo list` shows them; plugins add names through the 'motools' "
            "entry-point group.)",
            name=args.name,
            kind="dataset",
            available=known,
        )
    found = [(k, get_registration(k, args.name)) for k in kinds]  # type: ignore[arg-type]
    if args.json:
        print_json([_as_dict(k, r) for k, r in found])
        return 0
    for i, (kind, reg) in enumerate(found):
        if i:
            print()
        print(f"{kind} {reg.name}  (plugin {reg.plugin})")
        print(f"  target: {reg.target}")
        if reg.description:
            print(f"  description: {reg.description}")
        for key, value in reg.metadata.items():
            if key == "reference":
                continue
            print(f"  {key}: {_format_value(value)}")
        if kind == "task":
            print("\n".join(_reference_lines(reg.metadata.get("reference"))))
    return 0
