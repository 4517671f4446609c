"""``JSONLDataset``: an in-memory list of chat samples with streaming, validated file I/O."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import orjson

from motools.atomic import atomic_write
from motools.datasets.validation import PURPOSES, ROLES, Problem, check_sample
from motools.errors import ValidationError

if TYPE_CHECKING:
    import pandas as pd

#: At most this many problems are kept in memory (the total is always counted).
MAX_KEPT_PROBLEMS = 1000
#: At most this many problems are printed in an exception message.
MAX_SHOWN_PROBLEMS = 20


class DatasetValidationError(ValidationError):
    """A dataset with problems; ``problems`` lists them with line numbers and fields."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = problems
        self.total = len(problems) if total is None else total
        shown = "\n".join(f"  {p}" for p in problems[:MAX_SHOWN_PROBLEMS])
        more = self.total - min(len(problems), MAX_SHOWN_PROBLEMS)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        noun = "problem" if self.total == 1 else "problems"
        super().__init__(f"{source}: {self.total} {noun} found:\n{shown}{tail}")


def _detect_purpose(sample: Any) -> str:
    if isinstance(sample, dict) and "preferred_output" in sample:
        return "preference"
    return "supervised"


def _utf8_problem(raw: bytes, line: int) -> Problem | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start]
        return Problem(line, "", f"not valid UTF-8: byte 0x{bad:02x} at column {exc.start + 1}")
    return None


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while rows are parsed.

    Parsed JSON holds no reference cycles, so a collection during a load frees nothing; but
    each full collection walks every row read so far, and at 1M rows those walks took half
    of the load. The collector's state is restored afterwards (a caller that disabled it
    keeps it disabled).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: One string object per role name: rows read from a file then share them rather than each
#: holding its own copies (about 170 bytes a row of three messages).
_SHARED_ROLES = {role: role for role in ROLES}


def _share_strings(sample: dict[str, Any], last_system: list[str]) -> None:
    """Make a parsed row's repeated strings shared objects: role names, and a system prompt
    equal to the previous row's (a dataset usually repeats one). Values stay equal, and key
    order is unchanged, so the row serialises to the same bytes."""
    for key in ("messages", "preferred_output", "non_preferred_output", "input"):
        messages = sample.get(key)
        if key == "input":
            messages = messages.get("messages") if type(messages) is dict else None
        if type(messages) is not list:
            continue
        for msg in messages:
            if type(msg) is not dict:  # a key the row's purpose does not check
                continue
            role = msg.get("role")
            shared = _SHARED_ROLES.get(role) if type(role) is str else None
            if shared is None:
                continue
            msg["role"] = shared
            if shared == "system" or shared == "developer":
                content = msg.get("content")
                if type(content) is str:
                    if content == last_system[0]:
                        msg["content"] = last_system[0]
                    else:
                        last_system[0] = content


def read_jsonl(
    path: str | os.PathLike[str], *, purpose: str | None = "auto"
) -> tuple[list[Any], list[Problem], int]:
    """Parse ``path`` line by line. Returns ``(samples, kept_problems, total_problems)``.

    ``purpose=None`` skips chat-format checks (JSON errors are still reported). Rows that
    pass the checks share their role names and a repeated system prompt (see
    :func:`_share_strings`), so a large dataset costs less memory.
    """
    if purpose is not None and purpose != "auto" and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r} (expected auto or one of {PURPOSES})")
    samples: list[Any] = []
    problems: list[Problem] = []
    total = 0
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    chosen = purpose
    last_system = [""]
    with open(path, "rb") as fh, _collector_paused():
        for lineno, raw in enumerate(fh, start=1):
            found: list[Problem] = []
            try:
                sample = loads(raw)
            except decode_error as exc:
                if not raw.strip():
                    found.append(Problem(lineno, "", "blank line"))
                else:
                    found.append(
                        _utf8_problem(raw, lineno)
                        or Problem(lineno, "", f"invalid JSON: {exc.msg} (column {exc.colno})")
                    )
            else:
                if chosen == "auto":
                    chosen = _detect_purpose(sample)
                if chosen is not None:
                    check_sample(sample, lineno, chosen, found)
                if not found:
                    if chosen is not None:  # checked: a dict of message lists of dicts
                        _share_strings(sample, last_system)
                    samples.append(sample)
            if found:
                total += len(found)
                if len(problems) < MAX_KEPT_PROBLEMS:
                    problems.extend(found[: MAX_KEPT_PROBLEMS - len(problems)])
    return samples, problems, total


def check_rows(samples: Sequence[Any], purpose: str = "auto") -> tuple[list[Problem], int]:
    """``(kept problems, total)`` of parsed rows, by the rule :func:`read_jsonl` applies."""
    if purpose != "auto" and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r} (expected auto or one of {PURPOSES})")
    chosen = _detect_purpose(samples[0]) if purpose == "auto" and samples else purpose
    problems: list[Problem] = []
    total = 0
    for lineno, sample in enumerate(samples, start=1):
        found: list[Problem] = []
        check_sample(sample, lineno, chosen, found)
        if found:
            total += len(found)
            if len(problems) < MAX_KEPT_PROBLEMS:
                problems.extend(found[: MAX_KEPT_PROBLEMS - len(problems)])
    return problems, total


class JSONLDataset:
    """Chat samples in OpenAI format (``{"messages": [...]}`` per line, or DPO pairs).

    A dataset is treated as immutable: every transformation returns a new dataset, and
    ``content_hash`` (which identifies the exact bytes a model was trained on) is computed
    once. Do not mutate the sample dicts in place.
    """

    __slots__ = ("_hash", "_samples", "_valid_for", "source")

    def __init__(
        self,
        samples: Iterable[dict[str, Any]],
        *,
        source: str | None = None,
        purpose: str | None = "auto",
    ) -> None:
        """Rows are validated as :meth:`load` validates a file's lines (``purpose`` as there:
        ``"auto"`` picks supervised or preference from the first row; ``None`` skips the
        chat-format checks), so whatever a dataset holds, :meth:`save` writes and
        :meth:`load` reads back. Problems raise :class:`DatasetValidationError` naming the
        row (``line N`` is the row's 1-based position) and field, as ``load`` does."""
        self._samples: tuple[dict[str, Any], ...] = tuple(samples)
        self._hash: str | None = None
        #: The purpose every row is known to pass (set by a validating load or
        #: :meth:`validate`), so that a workflow validates each row once.
        self._valid_for: str | None = None
        self.source = source
        if purpose is not None:
            problems, total = check_rows(self._samples, purpose)
            if total:
                raise DatasetValidationError(source or "dataset", problems, total)

    @classmethod
    def _trusted(cls, samples: Iterable[dict[str, Any]], source: str | None = None) -> JSONLDataset:
        """A dataset of rows that were already validated (subsets, reorderings, loads)."""
        return cls(samples, source=source, purpose=None)

    # -- container protocol -------------------------------------------------------------
    @property
    def samples(self) -> tuple[dict[str, Any], ...]:
        return self._samples

    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._samples)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> JSONLDataset: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | JSONLDataset:
        if isinstance(index, slice):
            return JSONLDataset._trusted(self._samples[index])
        return self._samples[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JSONLDataset):
            return NotImplemented
        return self.content_hash == other.content_hash

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __add__(self, other: JSONLDataset) -> JSONLDataset:
        return JSONLDataset(self._samples + other._samples)  # a mix may need checking

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"JSONLDataset({len(self)} samples{src})"

    # -- identity -------------------------------------------------------------------------
    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSONL (sorted keys), independent of key order and file."""
        if self._hash is None:
            h = hashlib.sha256()
            dumps = orjson.dumps
            opt = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
            for s in self._samples:
                h.update(dumps(s, option=opt))
            self._hash = h.hexdigest()
        return self._hash

    @property
    def known_hash(self) -> str | None:
        """:attr:`content_hash` if it was computed already, else None (computing it
        serialises every row; :meth:`canonical_chunks` computes it while streaming)."""
        return self._hash

    # -- validation -----------------------------------------------------------------------
    def problems(self, purpose: str = "auto") -> list[Problem]:
        """Every problem; line numbers are 1-based positions in this dataset."""
        out: list[Problem] = []
        if purpose == self._valid_for:  # already checked for this purpose
            return out
        for i, s in enumerate(self._samples, start=1):
            p = _detect_purpose(s) if purpose == "auto" else purpose
            check_sample(s, i, p, out)
        return out

    def validate(self, purpose: str = "auto") -> JSONLDataset:
        """Raise :class:`DatasetValidationError` if any sample is malformed; return self."""
        problems = self.problems(purpose)
        if problems:
            raise DatasetValidationError(self.source or "dataset", problems)
        self._valid_for = purpose
        return self

    # -- I/O ------------------------------------------------------------------------------
    @classmethod
    def load_sync(
        cls, path: str | os.PathLike[str], *, purpose: str | None = "auto"
    ) -> JSONLDataset:
        """Read and validate ``path``; any problem raises one error listing them all."""
        samples, problems, total = read_jsonl(path, purpose=purpose)
        if total:
            raise DatasetValidationError(os.fspath(path), problems, total)
        dataset = cls._trusted(samples, source=os.fspath(path))
        dataset._valid_for = purpose
        return dataset

    @classmethod
    async def load(
        cls, path: str | os.PathLike[str], *, purpose: str | None = "auto"
    ) -> JSONLDataset:
        """Async :meth:`load_sync` (the parsing runs in a worker thread)."""
        return await asyncio.to_thread(cls.load_sync, path, purpose=purpose)

    def to_jsonl_bytes(self) -> bytes:
        opt = orjson.OPT_APPEND_NEWLINE
        return b"".join(orjson.dumps(s, option=opt) for s in self._samples)

    def canonical_chunks(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """The canonical JSONL (sorted keys, one row a line) in chunks of about
        ``chunk_size`` bytes: the bytes :attr:`content_hash` is the sha256 of.

        Each row is serialised once; when the stream is read to its end the content hash is
        known without serialising again (a store keeps the dataset from this stream).
        """
        h = hashlib.sha256() if self._hash is None else None
        dumps = orjson.dumps
        opt = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
        batch: list[bytes] = []
        size = 0
        for s in self._samples:
            line = dumps(s, option=opt)
            batch.append(line)
            size += len(line)
            if size >= chunk_size:
                chunk = b"".join(batch)
                if h is not None:
                    h.update(chunk)
                yield chunk
                batch, size = [], 0
        if batch:
            chunk = b"".join(batch)
            if h is not None:
                h.update(chunk)
            yield chunk
        if h is not None:
            self._hash = h.hexdigest()

    def save_sync(self, path: str | os.PathLike[str]) -> Path:
        """Write one JSON object per line, atomically (temp file, fsync, rename)."""
        target = Path(path)
        opt = orjson.OPT_APPEND_NEWLINE
        dumps = orjson.dumps
        atomic_write(target, (dumps(s, option=opt) for s in self._samples))
        return target

    async def save(self, path: str | os.PathLike[str]) -> Path:
        return await asyncio.to_thread(self.save_sync, path)

    # -- transformations ------------------------------------------------------------------
    def sample(self, n: int, *, seed: int | None = None, replace: bool = False) -> JSONLDataset:
        """``n`` rows drawn reproducibly for a given ``seed``: without replacement (in the
        dataset's order; ``n`` may not exceed its length) or, with ``replace=True``, with
        replacement (any ``n``; rows may repeat, in the order drawn)."""
        if n < 0:
            raise ValueError(f"cannot sample {n} rows: n must be 0 or more")
        rng = random.Random(seed)
        if replace:
            if n and not self._samples:
                raise ValueError("cannot sample from an empty dataset")
            drawn = JSONLDataset._trusted(rng.choices(self._samples, k=n))
            drawn._valid_for = self._valid_for  # rows of a valid dataset stay valid
            return drawn
        if n > len(self):
            raise ValueError(
                f"cannot sample {n} rows without replacement: the dataset has {len(self)} "
                "(pass replace=True to draw with replacement)"
            )
        idx = sorted(rng.sample(range(len(self)), n))
        subset = JSONLDataset._trusted([self._samples[i] for i in idx])
        subset._valid_for = self._valid_for  # rows of a valid dataset stay valid
        return subset

    def shuffle(self, *, seed: int | None = None) -> JSONLDataset:
        items = list(self._samples)
        random.Random(seed).shuffle(items)
        return JSONLDataset._trusted(items)

    def split(
        self, test_size: float | int = 0.1, *, seed: int | None = None
    ) -> tuple[JSONLDataset, JSONLDataset]:
        """``(train, test)``; ``test_size`` is a fraction in (0, 1) or a count."""
        n = len(self)
        if isinstance(test_size, float):
            if not 0 < test_size < 1:
                raise ValueError("a fractional test_size must be between 0 and 1")
            k = round(n * test_size)
        else:
            k = test_size
        if not 0 <= k <= n:
            raise ValueError(f"test_size {test_size} does not fit {n} samples")
        order = list(range(n))
        if seed is not None:
            random.Random(seed).shuffle(order)
        test_idx = set(order[n - k :])
        train = [s for i, s in enumerate(self._samples) if i not in test_idx]
        test = [s for i, s in enumerate(self._samples) if i in test_idx]
        return JSONLDataset._trusted(train), JSONLDataset._trusted(test)

    def interleave(self, *others: JSONLDataset, seed: int | None = None) -> JSONLDataset:
        """Round-robin merge with ``others`` (then shuffled, if a ``seed`` is given)."""
        sources = [self._samples, *(o._samples for o in others)]
        merged: list[dict[str, Any]] = []
        for i in range(max(len(s) for s in sources)):
            merged.extend(s[i] for s in sources if i < len(s))
        ds = JSONLDataset(merged)
        return ds.shuffle(seed=seed) if seed is not None else ds

    def filter(self, predicate: Callable[[dict[str, Any]], bool]) -> JSONLDataset:
        return JSONLDataset._trusted(s for s in self._samples if predicate(s))

    def map(self, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> JSONLDataset:
        return JSONLDataset(fn(s) for s in self._samples)

    @classmethod
    def from_pairs(
        cls, pairs: Sequence[tuple[str, str]], *, system: str | None = None
    ) -> JSONLDataset:
        """Build a supervised dataset from ``(user, assistant)`` pairs."""
        head = [{"role": "system", "content": system}] if system else []
        return cls(
            {
                "messages": [
                    *head,
                    {"role": "user", "content": u},
                    {"role": "assistant", "content": a},
                ]
            }
            for u, a in pairs
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per sample; the top-level keys (``messages``, ...) are columns."""
        import pandas as pd

        return pd.DataFrame.from_records(list(self._samples))

    def stats(self) -> dict[str, Any]:
        """Counts of rows, messages, roles and characters."""
        roles: dict[str, int] = {}
        messages = 0
        chars = 0
        for s in self._samples:
            for key in ("messages", "preferred_output", "non_preferred_output"):
                msgs = (
                    s.get(key)
                    if key != "messages"
                    else (s.get("messages") or s.get("input", {}).get("messages"))
                )
                for m in msgs or ():
                    messages += 1
                    role = m.get("role", "?")
                    roles[role] = roles.get(role, 0) + 1
                    content = m.get("content")
                    if isinstance(content, str):
                        chars += len(content)
                    elif isinstance(content, list):
                        chars += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
        return {
            "rows": len(self),
            "messages": messages,
            "roles": dict(sorted(roles.items())),
            "characters": chars,
            "content_hash": self.content_hash,
        }
