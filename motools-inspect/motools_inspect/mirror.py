"""Run ``inspect_evals`` benchmarks on a local copy of their Hugging Face data.

``inspect_evals`` tasks such as ``gsm8k`` download their dataset from the Hugging Face hub
when the task is built. Offline (or to pin the bytes you evaluate on), point a *data mirror*
at a folder holding the upstream files, laid out as::

    <mirror>/gsm8k/test.jsonl        openai/grade-school-math  grade_school_math/data/test.jsonl
    <mirror>/gsm8k/train.jsonl       openai/grade-school-math  grade_school_math/data/train.jsonl
    <mirror>/humaneval/test.jsonl    openai/human-eval         data/HumanEval.jsonl.gz (unzipped)

(``data_mirror=`` on :class:`~motools_inspect.InspectEvalBackend` or ``evaluate``, or the
``MOTOOLS_DATA_MIRROR`` environment variable). The benchmark itself is not forked: its own
task function runs unchanged -- same prompt, few-shot construction and scorer -- and only
its call to ``hf_dataset`` is answered from the mirror, with the same record mapping,
shuffling (the permutation ``datasets.Dataset.shuffle(seed)`` applies, so few-shot examples
match the online run), ``limit`` and ``auto_id`` semantics. While a mirror is active, a
split the mirror does not hold is an error, never a silent download.

The redirect is scoped with a context variable, so concurrent evaluations with and without a
mirror do not affect each other, and code that builds the same tasks outside a mirror sees
the original ``hf_dataset``.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motools.errors import EvaluationError

MIRROR_ENV = "MOTOOLS_DATA_MIRROR"


@dataclass(frozen=True)
class MirroredSplit:
    """One Hugging Face dataset split and the file in a mirror folder that replaces it."""

    hf_path: str
    config: str | None  # the ``data_dir`` or ``name`` the benchmark passes
    split: str
    file: str  # relative to the mirror folder
    note: str = ""


MIRRORED_SPLITS: tuple[MirroredSplit, ...] = (
    MirroredSplit("openai/gsm8k", "main", "test", "gsm8k/test.jsonl"),
    MirroredSplit(
        "openai/gsm8k",
        "main",
        "train",
        "gsm8k/train.jsonl",
        note="gsm8k takes its few-shot examples from the train split; pass "
        "task_args={'fewshot': 0} to evaluate zero-shot without it",
    ),
    MirroredSplit("openai/openai_humaneval", None, "test", "humaneval/test.jsonl"),
)

#: Benchmark modules whose ``hf_dataset`` calls a mirror may answer.
MIRRORED_MODULES: tuple[str, ...] = (
    "inspect_evals.gsm8k.gsm8k",
    "inspect_evals.humaneval.humaneval",
)

_active: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "motools_data_mirror", default=None
)
_install_lock = threading.Lock()
_ORIGINAL_ATTR = "__motools_original__"


def resolve_mirror(value: str | os.PathLike[str] | None) -> Path | None:
    """The mirror folder to use: ``value``, else ``$MOTOOLS_DATA_MIRROR``, else none."""
    raw = value if value is not None else os.environ.get(MIRROR_ENV) or None
    if raw is None:
        return None
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        source = "data_mirror" if value is not None else f"${MIRROR_ENV}"
        raise EvaluationError(f"{source} points at {str(path)!r}, which is not a folder")
    return path


def _find_split(path: str, config: str | None, split: str) -> MirroredSplit | None:
    for entry in MIRRORED_SPLITS:
        if (entry.hf_path, entry.config, entry.split) == (path, config, split):
            return entry
    return None


def _hf_permutation(n: int, seed: int | None) -> list[int]:
    """The order ``datasets.Dataset.shuffle(seed=seed)`` gives ``n`` rows."""
    import numpy as np

    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def _to_sample_fn(sample_fields: Any) -> Callable[[dict[str, Any]], Any]:
    if callable(sample_fields):
        return sample_fields
    # FieldSpec or None: the conversion Inspect's own loaders use.
    from inspect_ai.dataset._util import record_to_sample_fn

    return record_to_sample_fn(sample_fields)


def load_mirrored_split(
    mirror: Path,
    path: str,
    split: str,
    name: str | None = None,
    data_dir: str | None = None,
    revision: str | None = None,
    sample_fields: Any = None,
    auto_id: bool = False,
    shuffle: bool | int = False,
    seed: int | None = None,
    shuffle_choices: bool | int | None = None,
    limit: int | None = None,
    **_hf_options: Any,
) -> Any:
    """Build the Inspect dataset ``hf_dataset(path, split, ...)`` would, from ``mirror``."""
    from inspect_ai.dataset import MemoryDataset, Sample

    config = data_dir if data_dir is not None else name
    entry = _find_split(path, config, split)
    if entry is None:
        known = ", ".join(f"{e.hf_path}[{e.config or '-'}]:{e.split}" for e in MIRRORED_SPLITS)
        raise EvaluationError(
            f"the data mirror {str(mirror)!r} is active but has no entry for Hugging Face "
            f"dataset {path!r} (config {config!r}, split {split!r}); mirrored splits: {known}. "
            f"Unset the mirror ({MIRROR_ENV}) to download it."
        )
    file = mirror / entry.file
    if not file.is_file():
        hint = f" ({entry.note})" if entry.note else ""
        raise EvaluationError(
            f"the data mirror {str(mirror)!r} has no {entry.file!r}, the local copy of "
            f"{path!r} split {split!r}{hint}"
        )
    records = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EvaluationError(f"{file}:{number}: not valid JSON: {exc}") from exc

    # The same steps as inspect_ai's hf_dataset: map records, assign auto ids in file order,
    # reorder whole records by the datasets permutation, then apply the limit.
    from inspect_ai.dataset._util import resolve_shuffle

    resolved = resolve_shuffle(shuffle, seed)
    to_sample = _to_sample_fn(sample_fields)
    groups: list[list[Sample]] = []
    for record in records:
        produced = to_sample(record)
        groups.append(list(produced) if isinstance(produced, list) else [produced])
    if auto_id:
        next_id = 1
        for group in groups:
            for sample in group:
                sample.id = next_id
                next_id += 1
    if resolved.enabled:
        groups = [groups[i] for i in _hf_permutation(len(groups), resolved.seed)]
    if limit is not None:
        groups = groups[:limit]
    dataset = MemoryDataset(
        samples=[s for group in groups for s in group],
        name=path,
        location=str(file),
        shuffled=resolved.enabled,
    )
    if shuffle_choices:
        from inspect_ai.dataset._util import shuffle_choices_if_requested

        shuffle_choices_if_requested(dataset, shuffle_choices)
    return dataset


def _mirror_aware(original: Callable[..., Any]) -> Callable[..., Any]:
    def hf_dataset(*args: Any, **kwargs: Any) -> Any:
        mirror = _active.get()
        if mirror is None:
            return original(*args, **kwargs)
        return load_mirrored_split(mirror, *args, **kwargs)

    setattr(hf_dataset, _ORIGINAL_ATTR, original)
    hf_dataset.__doc__ = original.__doc__
    return hf_dataset


def _install() -> None:
    """Make the benchmark modules' ``hf_dataset`` consult the active mirror (once)."""
    with _install_lock:
        for module_name in MIRRORED_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # an inspect_evals without this benchmark
                continue
            current = getattr(module, "hf_dataset", None)
            if current is None or hasattr(current, _ORIGINAL_ATTR):
                continue
            module.hf_dataset = _mirror_aware(current)  # type: ignore[attr-defined]


@contextlib.contextmanager
def data_mirror(mirror: str | os.PathLike[str] | None) -> Iterator[Path | None]:
    """Within this block, mirrored benchmarks read their data from ``mirror``.

    ``None`` (with ``$MOTOOLS_DATA_MIRROR`` unset) leaves them reading from the hub.
    """
    folder = resolve_mirror(mirror)
    if folder is None:
        yield None
        return
    _install()
    token = _active.set(folder)
    try:
        yield folder
    finally:
        _active.reset(token)
