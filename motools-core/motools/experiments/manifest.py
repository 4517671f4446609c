"""The sweep manifest: label -> config -> training job -> model id -> evaluation, kept on disk.

One JSON-lines file per sweep under the motools home, ``sweeps/<sweep id>.jsonl``. The first
line describes the sweep and lists its members (label, parameters, frozen config); each later
line updates one member's state and is appended as the sweep progresses, so a sweep killed
half-way leaves a readable record of what was submitted. A torn last line is ignored. Each
run of the sweep starts by rewriting the file compactly (one line per member).

A member's state: ``status`` (planned, running, succeeded, failed; a ``running`` member whose
process has died reads as ``interrupted``), ``training_job`` (backend, job id, cache key),
``model_id``, ``results`` (metrics, evaluation log paths, cache key, scored samples per task),
``steps`` (step -> status), ``error``, ``cached`` (everything came from the cache).
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from motools.experiments.spec import Member, SweepSpec

MANIFEST_VERSION = 1
PLANNED, RUNNING, SUCCEEDED, FAILED, INTERRUPTED = (
    "planned",
    "running",
    "succeeded",
    "failed",
    "interrupted",
)


def sweeps_dir(home: str | os.PathLike[str] | None = None) -> Path:
    from motools.paths import home as motools_home

    return Path(home).expanduser() if home is not None else motools_home()


def manifest_path(sweep_id: str, home: str | os.PathLike[str] | None = None) -> Path:
    return sweeps_dir(home) / "sweeps" / f"{sweep_id}.jsonl"


def _dumps(value: Any) -> str:
    """One compact JSON line (standard JSON: a NaN or infinite number is written as null)."""
    import orjson

    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _pid_alive(host: str | None, pid: Any) -> bool | None:
    """True/False when we can tell (same host), None otherwise."""
    if host != socket.gethostname() or not isinstance(pid, int):
        return None
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Manifest:
    """A sweep's manifest as read from disk: ``header`` and ``members`` (label -> state)."""

    def __init__(self, path: Path, header: dict[str, Any], members: dict[str, dict[str, Any]]):
        self.path = path
        self.header = header
        self.members = members

    @property
    def sweep_id(self) -> str:
        return str(self.header.get("sweep", self.path.stem))

    @property
    def params(self) -> list[str]:
        """The dotted config paths the sweep varies, in grid order."""
        return list(self.header.get("params", []))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Manifest:
        p = Path(path)
        try:
            text = p.read_text()
        except FileNotFoundError:
            raise ValidationError(
                f"no manifest at {p}: this sweep has not been run with this motools home "
                "(run `motools sweep run` first, or set MOTOOLS_HOME)"
            ) from None
        from motools.cache.store import json_loads

        header: dict[str, Any] | None = None
        members: dict[str, dict[str, Any]] = {}
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                entry = json_loads(line)
            except ValueError:
                continue  # a line torn by a crash mid-write
            if entry.get("type") == "sweep":
                header = entry
                members = {m["label"]: dict(m) for m in entry.get("members", [])}
            elif entry.get("type") == "member" and entry.get("label") in members:
                state = members[entry["label"]]
                state.update({k: v for k, v in entry.items() if k != "type"})
        if header is None:
            raise ValidationError(f"{p}: not a sweep manifest (no header line)")
        for state in members.values():
            if (
                state.get("status") == RUNNING
                and _pid_alive(state.get("host"), state.get("pid")) is False
            ):
                state["status"] = INTERRUPTED
        return cls(p, header, members)

    def __len__(self) -> int:
        return len(self.members)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for state in self.members.values():
            out[state.get("status", PLANNED)] = out.get(state.get("status", PLANNED), 0) + 1
        return out

    def failed(self) -> list[dict[str, Any]]:
        return [m for m in self.members.values() if m.get("status") == FAILED]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per member (parameters under their short names)."""
        from motools.experiments.spec import short_names

        names = short_names(self.params, reserved=_MEMBER_COLUMNS)
        out = []
        for state in self.members.values():
            job = state.get("training_job") or {}
            results = state.get("results") or {}
            row: dict[str, Any] = {"label": state["label"]}
            for path in self.params:
                row[names[path]] = state.get("params", {}).get(path)
            row.update(
                {
                    "seed": (state.get("config") or {}).get("seed"),
                    "status": state.get("status", PLANNED),
                    "cached": state.get("cached"),
                    "backend": job.get("backend"),
                    "job_id": job.get("job_id"),
                    "model_id": state.get("model_id"),
                    "eval_logs": ";".join((results.get("log_paths") or {}).values()) or None,
                    "elapsed": state.get("elapsed"),
                    "error": state.get("error"),
                }
            )
            out.append(row)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per member: label, parameters, seed, status, job, model, logs, error."""
        import pandas as pd

        return pd.DataFrame(self.rows())


_MEMBER_COLUMNS = (
    "label", "seed", "status", "cached", "backend", "job_id", "model_id", "eval_logs",
    "elapsed", "error", "task", "scorer", "metric", "value", "stderr", "n_samples",
)  # fmt: skip


class ManifestWriter:
    """Appends member updates to a manifest; ``start`` rewrites it compactly first.

    Inside an event loop, updates are gathered for at most ``delay`` seconds and each
    member's are written as one line (a cached member's four updates cost one line, not
    four); ``flush`` and ``close`` write what is pending at once. Outside a loop each update
    is written as it comes.
    """

    def __init__(self, path: Path, *, delay: float = 0.2) -> None:
        self.path = path
        self.delay = delay
        self._fd: int | None = None
        self._pending: dict[str, dict[str, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def start(
        self,
        spec: SweepSpec,
        sweep_id: str,
        members: Iterable[Member],
        previous: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        members = list(members)
        previous = previous or {}
        header = {
            "type": "sweep",
            "version": MANIFEST_VERSION,
            "sweep": sweep_id,
            "workflow": spec.workflow,
            "source": spec._source,
            "params": _param_order(spec, members),
            "spec": spec.model_dump(mode="json"),
            "written_at": time.time(),
            "members": [
                {"label": m.label, "params": m.params, "config": m.config, "status": PLANNED}
                for m in members
            ],
        }
        lines = [_dumps(header)]
        for m in members:
            old = previous.get(m.label)
            if old:
                state = {
                    k: v for k, v in old.items() if k not in ("label", "params", "config", "type")
                }
                if state.get("status") in (RUNNING, INTERRUPTED):
                    state["status"] = INTERRUPTED
                lines.append(_dumps({"type": "member", "label": m.label, **state}))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(tmp, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def update(self, label: str, **state: Any) -> None:
        if self._fd is None:
            raise RuntimeError("ManifestWriter.start() was not called")
        pending = self._pending.get(label)
        if pending is None:
            self._pending[label] = {"type": "member", "label": label, **state}
        else:
            pending.update(state)
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        """Write every pending update (one line per member)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._fd is None or not self._pending:
            return
        lines = "".join(_dumps(entry) + "\n" for entry in self._pending.values())
        self._pending = {}
        os.write(self._fd, lines.encode())

    def close(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _param_order(spec: SweepSpec, members: list[Member]) -> list[str]:
    order = list(spec.grid)
    for m in members:
        for path in m.params:
            if path not in order:
                order.append(path)
    return order


def load_manifest(
    sweep: str | os.PathLike[str] | SweepSpec, *, home: str | os.PathLike[str] | None = None
) -> Manifest:
    """The manifest of a sweep file (or spec), from the motools home (``$MOTOOLS_HOME``)."""
    from motools.experiments.spec import SweepSpec

    spec = sweep if isinstance(sweep, SweepSpec) else SweepSpec.from_yaml(sweep)
    try:
        return Manifest.read(manifest_path(spec.sweep_id(), home))
    except ValidationError as exc:
        if spec.name is None and "has not been run" in str(exc):
            raise ValidationError(
                f"{exc}. A sweep without `name:` is keyed by its content, so an edited file "
                "is a new sweep; give it a name to keep one manifest across edits."
            ) from None
        raise
