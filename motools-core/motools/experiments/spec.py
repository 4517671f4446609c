"""Sweep specifications: a workflow, a base config and a grid, expanded into frozen members.

A sweep file::

    name: lr-sweep                 # optional; names the manifest (else: file name + content hash)
    workflow: train_and_evaluate
    max_parallel: 8                # members run at once
    quotas: {openai: 3}            # training jobs in flight per backend
    base_config:                   # a workflow config (or the path of one, relative to this file)
      prepare_dataset: {dataset: data/insecure.jsonl}
      submit_training: {backend: openai, model: gpt-4o-mini-2024-07-18}
      evaluate_model: {backend: inspect, tasks: [emergent_misalignment]}
    grid:                          # dotted paths into the config; the product is taken
      submit_training.hyperparameters.learning_rate_multiplier: [0.5, 1, 2]
      seed: [0, 1, 2]
    include:                       # extra members (applied to base_config)
      - {seed: 7, submit_training.hyperparameters.n_epochs: 5}
    exclude:                       # grid points to drop (all given keys must match)
      - {submit_training.hyperparameters.learning_rate_multiplier: 2, seed: 2}

Every member's config is validated by the workflow (unknown keys, the backend's
hyperparameter rules) before anything runs. A member's label is a hash of its workflow and
frozen config, so the same member always has the same label.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from motools.errors import ValidationError, format_validation_errors

if TYPE_CHECKING:
    from motools.workflows import Workflow


class SweepSpec(BaseModel):
    """What a sweep file holds (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description="names the manifest; default: hash")
    workflow: str = "train_and_evaluate"
    base_config: dict[str, Any] | str = Field(
        default_factory=dict, description="workflow config, or the path of a workflow YAML"
    )
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    include: list[dict[str, Any]] = Field(default_factory=list)
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    max_parallel: int = Field(default=4, ge=1)
    quotas: dict[str, int] = Field(default_factory=dict)

    #: Where the spec came from (a file path), for messages and relative paths.
    _source: str | None = None

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in grid.items():
            _check_path(path, "grid")
            if not values:
                raise ValueError(f"grid.{path}: give at least one value")
        return grid

    @field_validator("include", "exclude")
    @classmethod
    def _paths(cls, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for entry in entries:
            if not entry:
                raise ValueError("an empty entry; give at least one dotted path and value")
            for path in entry:
                _check_path(path, "entry")
        return entries

    @field_validator("quotas")
    @classmethod
    def _positive(cls, quotas: dict[str, int]) -> dict[str, int]:
        for backend, limit in quotas.items():
            if limit < 1:
                raise ValueError(f"quotas.{backend}: the limit must be at least 1, got {limit}")
        return quotas

    @property
    def source(self) -> str:
        return self._source or "sweep"

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> SweepSpec:
        """Load and validate a sweep file."""
        from motools.workflows.config import load_yaml

        p = Path(path)
        if not p.exists():
            raise ValidationError(f"{p}: sweep file not found")
        data = load_yaml(p, what="sweep file (YAML)")
        spec = cls.parse(data, source=str(p))
        return spec

    @classmethod
    def parse(cls, data: Any, *, source: str = "sweep") -> SweepSpec:
        import pydantic

        if not isinstance(data, Mapping):
            raise ValidationError(f"{source}: a sweep file must be a mapping (workflow, grid, ...)")
        try:
            spec = cls.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            raise ValidationError(_format_error(exc, source)) from None
        spec._source = source
        return spec

    def sweep_id(self) -> str:
        """The manifest's name: ``name``, else the file stem (or 'sweep') plus a content hash."""
        if self.name:
            return _safe(self.name)
        from motools.cache.keys import canonical, key_of

        # How fast it runs (max_parallel, quotas) does not change what the sweep is.
        digest = key_of(canonical(self.model_dump(mode="json", exclude={"max_parallel", "quotas"})))
        is_file = self._source is not None and self._source.endswith((".yaml", ".yml"))
        stem = Path(self._source).stem if is_file and self._source else "sweep"
        return f"{_safe(stem)}-{digest[:12]}"

    def base_dir(self) -> Path | None:
        """The folder relative paths in the base config are resolved against: the base
        config file's, or the sweep file's (None for a sweep built in Python)."""
        source = Path(self._source) if self._source else None
        folder = source.resolve().parent if source is not None and source.is_file() else None
        if isinstance(self.base_config, str):
            base = Path(self.base_config)
            if not base.is_absolute() and folder is not None:
                base = folder / base
            return base.resolve().parent
        return folder

    def check_limits(self) -> None:
        """``max_parallel`` and ``quotas`` as they will be used (after command-line overrides):
        at least one member at a time, and every quota naming a training backend."""
        if self.max_parallel < 1:
            raise ValidationError(
                f"{self.source}: max_parallel (--max-parallel) must be at least 1, "
                f"got {self.max_parallel}"
            )
        if not self.quotas:
            return
        import difflib

        from motools.plugins import list_training_backends

        known = sorted(r.name for r in list_training_backends())
        for name, limit in self.quotas.items():
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValidationError(
                    f"{self.source}: quotas.{name}: no training backend is called {name!r}.{hint} "
                    f"Training backends: {', '.join(known) or '(none)'}."
                )
            if limit < 1:
                raise ValidationError(
                    f"{self.source}: quotas.{name}: the limit must be at least 1, got {limit}"
                )

    def resolved_base_config(self) -> dict[str, Any]:
        if isinstance(self.base_config, str):
            from motools.workflows.config import load_yaml

            base = Path(self.base_config)
            if not base.is_absolute() and self._source and Path(self._source).is_file():
                base = Path(self._source).parent / base
            if not base.is_file():
                raise ValidationError(
                    f"{self.source}: base_config file {base} not found (relative paths are "
                    "relative to the sweep file's folder)"
                )
            loaded = load_yaml(base, what="workflow config (YAML)") or {}
            if not isinstance(loaded, Mapping):
                raise ValidationError(f"{base}: a workflow config must be a mapping")
            return dict(loaded)
        return copy.deepcopy(self.base_config)


@dataclass(frozen=True)
class Member:
    """One run of the sweep: its parameters (dotted path -> value) and frozen config."""

    label: str
    params: dict[str, Any]
    config: dict[str, Any] = field(repr=False)
    index: int = 0
    #: The validated config object (so running the member does not parse it again).
    parsed: Any = field(default=None, repr=False, compare=False)

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    def describe(self) -> str:
        return ", ".join(f"{short}={v}" for short, v in short_params(self.params).items()) or "base"


_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_\-]+)*$")


def _check_path(path: str, where: str) -> None:
    if not _PATH.match(path):
        raise ValueError(
            f"{where} key {path!r} is not a dotted config path such as "
            "'submit_training.hyperparameters.learning_rate' or 'seed'"
        )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "sweep"


def _format_error(exc: Any, source: str) -> str:
    return format_validation_errors(
        exc,
        f"{source}: invalid sweep file:",
        unknown="unknown key (expected name, workflow, base_config, grid, include, exclude, "
        "max_parallel, quotas)",
    )


def set_path(config: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` in a nested dict, creating mappings on the way."""
    parts = path.split(".")
    node = config
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ValidationError(
                f"cannot set {path}: {'.'.join(parts[: i + 1])} is {child!r}, not a mapping"
            )
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def short_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters named by their last path segment where that is unambiguous."""
    names = short_names(params)
    return {names[p]: v for p, v in params.items()}


def short_names(paths: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """``{dotted path: column name}``: the last segment unless two paths (or ``reserved``) share it."""
    paths = list(paths)
    taken = set(reserved)
    last = [p.rsplit(".", 1)[-1] for p in paths]
    out = {}
    for path, tail in zip(paths, last, strict=True):
        out[path] = tail if last.count(tail) == 1 and (tail not in taken or tail == path) else path
    return out


def _matches(params: Mapping[str, Any], entry: Mapping[str, Any]) -> bool:
    from motools.cache.keys import canonical

    return all(
        path in params and canonical(params[path]) == canonical(value)
        for path, value in entry.items()
    )


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter assignments of every member: the grid's product, minus exclude, plus include."""
    paths = list(spec.grid)
    points: list[dict[str, Any]] = []
    if paths:
        for values in itertools.product(*(spec.grid[p] for p in paths)):
            point = dict(zip(paths, values, strict=True))
            if not any(_matches(point, e) for e in spec.exclude):
                points.append(point)
    elif not spec.include:
        points.append({})
    points.extend(dict(entry) for entry in spec.include)
    return points


def member_label(workflow: str, config: Mapping[str, Any]) -> str:
    from motools.cache.keys import canonical, key_of

    return "m-" + key_of({"workflow": workflow, "config": canonical(config)})[:12]


def expand(spec: SweepSpec, workflow: Workflow | None = None, composer: Any = None) -> list[Member]:
    """Every member with its frozen, validated config (raises before anything runs).

    Members share what they have in common: a config section (or global) that the same grid
    values give is validated, checked, dumped and hashed once and the same object is used by
    every member that has it, so expanding costs what the distinct sections cost.
    """
    from motools.api import Composer
    from motools.cache.keys import canonical
    from motools.cache.store import canonical_json, sha256_text
    from motools.redaction import is_secret_name
    from motools.workflows import get_workflow
    from motools.workflows.config import check_size

    spec.check_limits()
    workflow = workflow or get_workflow(spec.workflow)
    composer = composer or Composer()  # builds each backend once for all members' checks
    base = spec.resolved_base_config()
    base_dir = spec.base_dir()
    # Every member is made of these parts: sized once here, not once per member.
    check_size({"base_config": base, "grid": spec.grid, "include": spec.include}, spec.source)
    names = list(workflow.config_model().model_fields)
    workflow_json = canonical_json(workflow.name)
    # canonical() sorts a mapping's keys and drops secret-named ones; canonical_json adds
    # the keys' JSON: the label's text is put together from each part's canonical text.
    label_order = [(canonical_json(n), n) for n in sorted(names) if not is_secret_name(n)]
    #: (top-level name, its grid values) -> (validated value, its JSON dump, canonical text)
    parts: dict[tuple[str, str], tuple[Any, Any, str]] = {}
    members: list[Member] = []
    seen: set[str] = set()
    source = spec.source
    for point in grid_points(spec):
        config: dict[str, Any] = {}
        fresh: dict[str, tuple[str, str]] = {}
        sigs: dict[str, tuple[str, str]] = {}
        tops = dict.fromkeys([*names, *base, *(path.split(".", 1)[0] for path in point)])
        for name in tops:
            sub = {p: v for p, v in point.items() if p == name or p.startswith(name + ".")}
            sig = sigs[name] = (name, _signature(sub))
            known = parts.get(sig)
            if known is not None:
                config[name] = known[0]
                continue
            fresh[name] = sig
            holder = {name: copy.deepcopy(base[name])} if name in base else {}
            for path, value in sub.items():
                set_path(holder, path, value)
            if name in holder:
                config[name] = holder[name]
        try:
            parsed = workflow.parse_config(config, source=source, base_dir=base_dir, sized=True)
        except ValidationError:  # again, for a message that names the member
            workflow.parse_config(config, source=_where(source, point), base_dir=base_dir)
            raise
        if fresh:
            dumped = parsed.model_dump(mode="json", include=set(fresh) & set(names))
            for name, sig in fresh.items():
                if name in dumped:  # (an unknown key would have failed validation above)
                    value = dumped[name]
                    parts[sig] = (
                        getattr(parsed, name),
                        value,
                        canonical_json(canonical(value)),
                    )
        # Each step's own checks (backend hyperparameter rules...): the composer runs them
        # once per distinct section.
        problems = []
        for step in workflow.steps:
            if step.check is None:
                continue
            try:
                composer.checked(step.name, getattr(parsed, step.name), step.check)
            except ValidationError as exc:
                problems.append(f"  {step.name}: " + str(exc).replace("\n", "\n    "))
            except Exception as exc:  # a backend constructor rejecting an option, say
                problems.append(f"  {step.name}: {type(exc).__name__}: {exc}")
        if problems:
            raise ValidationError(
                f"{_where(source, point)}: invalid workflow config:\n" + "\n".join(problems)
            )
        frozen = {name: parts[sigs[name]][1] for name in names}
        config_json = ",".join(f"{key}:{parts[sigs[name]][2]}" for key, name in label_order)
        # == member_label(workflow.name, frozen), without walking the config again
        label = (
            "m-" + sha256_text(f'{{"config":{{{config_json}}},"workflow":{workflow_json}}}')[:12]
        )
        if label in seen:
            continue  # two grid points that give the same config are one member
        seen.add(label)
        members.append(Member(label, point, frozen, len(members), parsed))
    return members


def _where(source: str, point: Mapping[str, Any]) -> str:
    return f"{source}: member {_describe(point)}"


def _signature(values: Mapping[str, Any]) -> str:
    """Text that is equal for two mappings exactly when their values are (``1``, ``1.0`` and
    ``True`` differ): the scalars' types and reprs, canonical JSON for anything else."""
    if not values:
        return ""
    if all(type(v) in (int, float, str, bool, type(None)) for v in values.values()):
        return repr(sorted((p, type(v).__name__, v) for p, v in values.items()))
    from motools.cache.store import canonical_json

    return canonical_json(values)


def _describe(point: Mapping[str, Any]) -> str:
    from motools.errors import short_repr

    return ", ".join(f"{k}={short_repr(v, 60)}" for k, v in point.items()) or "(base config)"


def load_sweep(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep file."""
    return SweepSpec.from_yaml(path)
