"""The composer: backends found by name, wired with the cache, a store and provider quotas.

This is the one place that puts the layers together. :mod:`motools.plugins` only finds names;
:mod:`motools.cache` only knows keys and records; :mod:`motools.quotas` only counts slots.
A :class:`Composer` holds one store and (optionally) quotas, builds each backend once per
(name, options), wraps it in the cache, and is what workflow steps receive on their context.

The module-level helpers (``motools.train``, ``motools.evaluate``,
``motools.get_training_backend(name, cache=True)``, ``motools.resume_run``) are thin uses of it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from motools.evals.base import EvalBackend, as_eval_backend
from motools.training.base import TrainingBackend, as_training_backend

if TYPE_CHECKING:
    from motools.cache.backends import CachedEvalBackend, CachedTrainingBackend
    from motools.cache.store import Store
    from motools.datasets import JSONLDataset
    from motools.evals import EvalJob
    from motools.quotas import ProviderQuotas
    from motools.training import TrainingRun

T = TypeVar("T")


def check_backend_options(
    factory: Any, options: Mapping[str, Any], *, backend: str, kind: str = "training"
) -> None:
    """Check constructor ``options`` against ``factory``'s signature before calling it.

    An option the constructor does not take is a ValidationError with a did-you-mean; a value
    that does not fit the parameter's annotation (``duration=abc`` for a ``float``) is one
    naming the option and the expected type. Annotations that cannot be resolved are skipped.
    Secret-named options are never echoed.
    """
    import difflib
    import inspect

    from motools.errors import ValidationError, short_repr
    from motools.redaction import is_secret_name

    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = {
        n: p
        for n, p in signature.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    open_ended = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    label = f"the {backend} {kind} backend"
    for name in options:
        if name not in params and not open_ended:
            close = difflib.get_close_matches(str(name), list(params), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"backend option {name!r} is not accepted by {label}.{hint} "
                f"It accepts: {', '.join(params) or 'no options'}."
            )
    target = factory.__init__ if inspect.isclass(factory) else factory
    namespace = dict(getattr(inspect.unwrap(target), "__globals__", {}))
    for name, value in options.items():
        param = params.get(name)
        if param is None or param.annotation is param.empty:
            continue
        expected = _annotation_type(param.annotation, namespace)
        if expected is None:
            continue
        problem = _type_problem(expected, value)
        if problem is not None:
            shown = "***" if is_secret_name(name) else short_repr(value, 60)
            raise ValidationError(
                f"backend option {name}={shown} for {label}: {problem} "
                f"(expected {_annotation_text(param.annotation)})"
            )


def _annotation_type(annotation: Any, namespace: dict[str, Any]) -> Any:
    """The annotation as a type, evaluating a string one; None when it cannot be resolved."""
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)
    except Exception:
        return None


def _annotation_text(annotation: Any) -> str:
    return (
        annotation
        if isinstance(annotation, str)
        else getattr(annotation, "__name__", repr(annotation))
    )


def _type_problem(expected: Any, value: Any) -> str | None:
    """Pydantic's complaint about ``value`` as an ``expected``, or None (also if uncheckable)."""
    import pydantic

    if not isinstance(value, (str, int, float, bool, list, dict, type(None))):
        return None  # an object passed from Python (a client, a Path): the constructor's call
    try:
        adapter: Any = pydantic.TypeAdapter(expected)
    except Exception:  # a type pydantic cannot check (an SDK client class, say)
        return None
    try:
        adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "string_type" and isinstance(value, (int, float)):
            return None  # `--backend-option organization=123` read the text as a number
        return str(errors[0]["msg"]) if errors else str(exc)
    except Exception:
        return None
    return None


def _build_backend(lookup: Any, kind: str, name: str, options: Mapping[str, Any]) -> Any:
    """``lookup(name, **options)``, with the options checked first and a constructor's
    TypeError / ValueError turned into a ValidationError naming the backend."""
    from motools.errors import MotoolsError, ValidationError
    from motools.plugins import get_registration

    registry_kind = "training_backend" if kind == "training" else "eval_backend"
    check_backend_options(
        get_registration(registry_kind, name).load(), options, backend=name, kind=kind
    )
    try:
        return lookup(name, **dict(options))
    except MotoolsError:
        raise
    except (TypeError, ValueError) as exc:
        from motools.redaction import redact

        raise ValidationError(
            f"the {name} {kind} backend rejected its options {sorted(redact(dict(options)))}: {exc}"
        ) from exc


def _options_key(name: str, options: Mapping[str, Any]) -> str:
    """An in-memory identity of (name, constructor options); never stored or shown."""
    if not options:
        return name
    return name + repr(sorted((str(k), repr(v)) for k, v in options.items()))


class Composer:
    """Wires backend + cache + store + quotas, once per workflow run (or sweep, or call)."""

    def __init__(self, store: Store | None = None, *, quotas: ProviderQuotas | None = None) -> None:
        self._store = store
        self.quotas = quotas
        self._training: dict[str, TrainingBackend] = {}
        self._eval: dict[str, EvalBackend] = {}
        #: The training backend each backend name was last composed with (for re-attaching).
        self._training_by_name: dict[str, TrainingBackend] = {}
        #: Results of workflow steps' checks, per (step, config section): a sweep's members
        #: that share a section are checked once.
        self._checks: dict[tuple[str, str], Any] = {}
        #: Values computed once per composer (see :meth:`once`), with the object each key's
        #: ``id()`` belongs to, kept alive so that the id is never reused.
        self._once: dict[Any, tuple[Any, Any]] = {}
        self._cached_backends: dict[tuple[str, str, bool], Any] = {}
        #: Outputs of cached workflow steps found intact or made through this composer, by
        #: step key, and the steps being made now: members of a sweep that share a step
        #: (the same dataset preparation) read or make it once between them.
        self.step_outputs: dict[str, dict[str, Any]] = {}
        self.step_flights: dict[str, asyncio.Future[None]] = {}

    def once(self, key: Any, compute: Callable[[], T], anchor: Any = None) -> T:
        """``compute()`` the first time ``key`` is asked for, the same value after that.

        For work that a sweep's members share and that should not change while the
        composer lives: the canonical form of a config section (``key`` holding
        ``id(anchor)``, ``anchor`` the section), a check's result, a step's fingerprint of
        the outside data it reads (taken when the first member asks, like the check).
        """
        found = self._once.get(key)
        if found is None:
            found = self._once[key] = (compute(), anchor)
        return found[0]  # type: ignore[no-any-return]

    def section_json(self, section: Any) -> dict[str, Any]:
        """A pydantic config section as canonical JSON values (once per section object)."""
        from motools.cache.keys import canonical

        return self.once(
            ("section", id(section)),
            lambda: canonical(section.model_dump(mode="json")),
            anchor=section,
        )

    def checked(self, step: str, section: Any, check: Any) -> Any:
        """``check(section, self)``, once per distinct (step, section) for this composer."""
        known = self._once.get(("checked", step, id(section)))
        if known is not None:  # this very section was checked (a sweep's members share it)
            return known[0]
        from motools.cache.store import canonical_json

        def by_value() -> Any:
            key = (step, canonical_json(self.section_json(section)))
            if key not in self._checks:
                self._checks[key] = check(section, self)
            return self._checks[key]

        return self.once(("checked", step, id(section)), by_value, anchor=section)

    @property
    def store(self) -> Store:
        """The store (opened on first use: ``$MOTOOLS_HOME``, or ``./.motools``)."""
        if self._store is None:
            from motools.cache.store import open_store

            self._store = open_store()
        return self._store

    # -- backends --------------------------------------------------------------------------
    def training_backend(
        self, name: str, options: Mapping[str, Any] | None = None
    ) -> TrainingBackend:
        """The backend registered as ``name``, built with ``options`` (once per composer)."""
        from motools.plugins import get_training_backend

        key = _options_key(name, options or {})
        if key not in self._training:
            self._training[key] = as_training_backend(
                _build_backend(get_training_backend, "training", name, options or {})
            )
        self._training_by_name[name] = self._training[key]
        return self._training[key]

    def eval_backend(self, name: str, options: Mapping[str, Any] | None = None) -> EvalBackend:
        from motools.plugins import get_eval_backend

        key = _options_key(name, options or {})
        if key not in self._eval:
            self._eval[key] = as_eval_backend(
                _build_backend(get_eval_backend, "evaluation", name, options or {})
            )
        return self._eval[key]

    def cached_training(
        self, name: str, options: Mapping[str, Any] | None = None, *, force: bool = False
    ) -> CachedTrainingBackend:
        """The backend wrapped in the cache of this composer's store."""
        from motools.cache.backends import CachedTrainingBackend

        backend = self.training_backend(name, options)
        key = ("training", _options_key(name, options or {}), force)
        if key not in self._cached_backends:
            self._cached_backends[key] = CachedTrainingBackend(backend, self.store, force=force)
        return self._cached_backends[key]  # type: ignore[no-any-return]

    def cached_eval(
        self, name: str, options: Mapping[str, Any] | None = None, *, force: bool = False
    ) -> CachedEvalBackend:
        from motools.cache.backends import CachedEvalBackend

        backend = self.eval_backend(name, options)
        key = ("eval", _options_key(name, options or {}), force)
        if key not in self._cached_backends:
            self._cached_backends[key] = CachedEvalBackend(backend, self.store, force=force)
        return self._cached_backends[key]  # type: ignore[no-any-return]

    # -- training --------------------------------------------------------------------------
    async def train(
        self,
        name: str,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        *,
        backend_options: Mapping[str, Any] | None = None,
        force: bool = False,
        **options: Any,
    ) -> TrainingRun:
        """Find, re-attach to, or submit a training job, within the quotas if there are any."""
        cached = self.cached_training(name, backend_options, force=force)
        if self.quotas is not None:
            return await self.quotas.train(
                name, cached, dataset, model, hyperparameters, suffix, **options
            )
        return await cached.train(dataset, model, hyperparameters, suffix, **options)

    async def resume(
        self, state: Mapping[str, Any], *, cache_key: str | None = None
    ) -> TrainingRun:
        """Re-attach to a run from its state; with ``cache_key`` its record stays up to date.

        The backend is the one this composer last built for that name (so its constructor
        options, credentials included, are the ones the job was submitted with), else the
        registered backend with default options.
        """
        name = str(state["backend"])
        backend = self._training_by_name.get(name) or self.training_backend(name)
        if cache_key is None:
            return await backend.resume(state)
        from motools.cache.backends import CachedTrainingBackend

        return await CachedTrainingBackend(backend, self.store).reattach(state, cache_key)

    def release(self, backend: str, job_id: str) -> None:
        """Give back the quota slot of a job that ended (or that nobody waits on any more)."""
        if self.quotas is not None:
            self.quotas.release(backend, job_id)


def get_training_backend(
    name: str, *, cache: bool = False, store: Store | None = None, **kwargs: Any
) -> Any:
    """Instantiate the training backend registered as ``name``.

    ``cache=True`` wraps it in :class:`motools.cache.CachedTrainingBackend` (on ``store``).
    """
    from motools.plugins import get_training_backend as lookup

    if not cache:
        return lookup(name, **kwargs)
    return Composer(store).cached_training(name, kwargs)


def get_eval_backend(
    name: str, *, cache: bool = False, store: Store | None = None, **kwargs: Any
) -> Any:
    """Instantiate the evaluation backend registered as ``name``.

    ``cache=True`` wraps it in :class:`motools.cache.CachedEvalBackend` (on ``store``).
    """
    from motools.plugins import get_eval_backend as lookup

    if not cache:
        return lookup(name, **kwargs)
    return Composer(store).cached_eval(name, kwargs)


async def train(
    dataset: JSONLDataset | str | os.PathLike[str],
    model: str,
    *,
    backend: str = "dummy",
    hyperparameters: Mapping[str, Any] | None = None,
    suffix: str | None = None,
    cache: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> TrainingRun:
    """Submit (or, with ``cache=True``, find or re-attach to) a training job; return its run.

    ``dataset`` is a :class:`~motools.datasets.JSONLDataset`, or a reference to one that is
    loaded first: a JSONL path, a ``"module:function"`` loader or a registered dataset name.
    """
    if isinstance(dataset, (str, os.PathLike)):
        from motools.dataset_refs import load_dataset_ref

        dataset = await load_dataset_ref(os.fspath(dataset))
    composer = Composer()
    if not cache:
        impl = composer.training_backend(backend, backend_options)
        return await impl.train(dataset, model, hyperparameters, suffix, **kwargs)
    return await composer.train(
        backend, dataset, model, hyperparameters, suffix, backend_options=backend_options, **kwargs
    )


async def evaluate(
    model_id: str,
    eval_suite: Any,
    *,
    backend: str = "dummy",
    cache: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> EvalJob:
    """Start (or, with ``cache=True``, reuse) an evaluation; return its job."""
    composer = Composer()
    impl = (
        composer.cached_eval(backend, backend_options)
        if cache
        else composer.eval_backend(backend, backend_options)
    )
    return await impl.evaluate(model_id, eval_suite, **kwargs)


async def resume_run(
    state: Mapping[str, Any] | str | os.PathLike[str], **backend_kwargs: Any
) -> TrainingRun:
    """Re-attach to a run from its state (a dict or a JSON file), finding the backend by name."""
    data: Mapping[str, Any] = (
        state if isinstance(state, Mapping) else json.loads(Path(state).read_text())
    )
    composer = Composer()
    composer.training_backend(str(data["backend"]), backend_kwargs)
    return await composer.resume(data)
