"""The plugin manager and typed lookups by name.

Plugins are found through the ``motools`` entry-point group, loaded lazily on the first
lookup (never at ``import motools``), once, and tolerantly: a plugin that fails to import
is recorded with its error and skipped. Built-in backends register through the same hooks.

Environment switches:

* ``MOTOOLS_DISABLE_PLUGINS`` -- ``1``/``all`` loads no entry-point plugins; a comma-separated
  list disables just those entry-point names.
* ``MOTOOLS_LOAD_PLUGINS`` -- a comma-separated list of entry-point names to load, and no
  others (empty string: none).

Name tables are rebuilt from the hooks on every lookup, so plugins registered or unregistered
at run time (``register_plugin`` / ``unregister_plugin``) take effect at once.

This module only finds names: hook specs, lookups, model routing and load errors. Caching,
stores, quotas and re-attaching to runs are wired above it, in :mod:`motools.api`.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import os
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from motools import hookspecs
from motools.errors import PluginLoadError, RoutingError, UnknownBackendError
from motools.refs import import_object

log = logging.getLogger("motools.plugins")

ENTRY_POINT_GROUP = "motools"
BUILTIN_PLUGIN = "motools.builtin"

Kind = Literal["training_backend", "eval_backend", "dataset", "task", "workflow"]

_HOOK_FOR_KIND: dict[str, str] = {
    "training_backend": "register_training_backends",
    "eval_backend": "register_eval_backends",
    "dataset": "register_datasets",
    "task": "register_tasks",
    "workflow": "register_workflows",
}
_LABEL: dict[str, str] = {
    "training_backend": "training backend",
    "eval_backend": "evaluation backend",
    "dataset": "dataset",
    "task": "task",
    "workflow": "workflow",
}
#: Which distribution to install for the backends we publish ourselves.
KNOWN_DISTRIBUTIONS: dict[tuple[str, str], str] = {
    ("training_backend", "openai"): "motools-openai",
    ("training_backend", "tinker"): "motools-tinker",
    ("eval_backend", "inspect"): "motools-inspect",
}


@dataclass(frozen=True)
class Registration:
    """One name a plugin registered, and where its implementation lives."""

    kind: str
    name: str
    target: str | Callable[..., Any]
    plugin: str
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def load(self) -> Any:
        """Import and return the registered object (a class, factory or function)."""
        try:
            return resolve_target(self.target)
        except ImportError as exc:
            dist = _distribution_for_plugin(self.plugin) or self.plugin
            raise PluginLoadError(
                f"{_LABEL[self.kind].capitalize()} {self.name!r} (from plugin {self.plugin!r}) "
                f"could not be imported: {type(exc).__name__}: {exc}. "
                f"Reinstall it with `pip install {dist}`."
            ) from exc


@dataclass
class PluginInfo:
    """What ``motools plugins`` prints about one plugin."""

    name: str
    module: str | None
    distribution: str | None
    version: str | None
    hooks: list[str]
    builtin: bool = False
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "builtin": self.builtin,
            "error": self.error,
        }


class _State:
    def __init__(self) -> None:
        self.pm: pluggy.PluginManager | None = None
        self.loaded = False
        self.failures: dict[str, PluginInfo] = {}
        self.entry_points: dict[str, PluginInfo] = {}
        self.lock = threading.RLock()


_state = _State()


def resolve_target(target: str | Callable[..., Any]) -> Any:
    """Turn a ``"module:attr"`` (or ``"module.attr"``) string into the object it names."""
    if not isinstance(target, str):
        return target
    return import_object(target)


_GENERATIONS = itertools.count(1)


class _Manager(pluggy.PluginManager):
    """A plugin manager that numbers each change of its plugins (see :func:`plugin_token`);
    the numbers are unique across managers, so a new manager never repeats an old token."""

    generation = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        self.generation = next(_GENERATIONS)
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        self.generation = next(_GENERATIONS)
        return super().unregister(plugin, name)

    def set_blocked(self, name: str) -> None:
        self.generation = next(_GENERATIONS)
        super().set_blocked(name)


def _new_manager() -> pluggy.PluginManager:
    pm = _Manager("motools")
    pm.add_hookspecs(hookspecs)
    return pm


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _entry_point_allowed(name: str) -> bool:
    disabled = _env_list("MOTOOLS_DISABLE_PLUGINS")
    if disabled is not None and (
        {"1", "all", "true", "yes"} & {d.lower() for d in disabled} or name in disabled
    ):
        return False
    only = _env_list("MOTOOLS_LOAD_PLUGINS")
    return only is None or name in only


def _check_plugin_hooks(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Raise if ``plugin`` implements a hook that does not exist (a misspelling)."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(plugin)
        known = [*sorted(_HOOK_FOR_KIND.values()), "route_model"]
        bad = [
            attr
            for attr in dir(plugin)
            if attr.startswith(("register_", "route_")) and attr not in known
        ]
        hint = ""
        if bad:
            close = difflib.get_close_matches(bad[0], known, n=1)
            hint = f" Unknown hook {bad[0]!r}" + (f"; did you mean {close[0]!r}?" if close else ".")
        raise pluggy.PluginValidationError(plugin, f"Plugin {name!r}: {exc}.{hint}") from exc


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _state.entry_points or pm.has_plugin(ep.name):
            continue
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        info = PluginInfo(ep.name, ep.value, dist, version, hooks=[])
        _state.entry_points[ep.name] = info
        if not _entry_point_allowed(ep.name):
            info.error = "disabled by MOTOOLS_DISABLE_PLUGINS / MOTOOLS_LOAD_PLUGINS"
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            _check_plugin_hooks(pm, module, ep.name)
        except Exception as exc:  # a broken plugin must not break the others
            info.error = f"{type(exc).__name__}: {exc}"
            info.exception = exc
            _state.failures[ep.name] = info
            log.debug("plugin %s failed to load:\n%s", ep.name, traceback.format_exc())
            warnings.warn(
                f"motools plugin {ep.name!r} ({dist or ep.value}) failed to load and was "
                f"skipped: {info.error}",
                RuntimeWarning,
                stacklevel=3,
            )


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-ins and entry points loaded."""
    with _state.lock:
        if _state.pm is None:
            _state.pm = _new_manager()
        if not _state.loaded:
            from motools import builtin_plugin

            pm = _state.pm
            if not pm.has_plugin(BUILTIN_PLUGIN):
                pm.register(builtin_plugin, name=BUILTIN_PLUGIN)
            _state.loaded = True
            _load_entry_points(pm)
        return _state.pm


def reset_plugins() -> None:
    """Forget every loaded plugin; the next lookup loads them again (for tests)."""
    with _state.lock:
        _TABLES.clear()
        _state.pm = None
        _state.loaded = False
        _state.failures.clear()
        _state.entry_points.clear()


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object or module at run time; a misspelt hook raises at once."""
    pm = get_plugin_manager()
    registered = pm.register(plugin, name=name)
    if registered is None:
        raise ValueError(f"plugin {name or plugin!r} is already registered or blocked")
    _check_plugin_hooks(pm, plugin, registered)
    return registered


def unregister_plugin(plugin: object | None = None, name: str | None = None) -> None:
    """Remove a plugin registered with ``register_plugin``."""
    get_plugin_manager().unregister(plugin=plugin, name=name)


def _distribution_for_plugin(plugin_name: str) -> str | None:
    info = _state.entry_points.get(plugin_name)
    return info.distribution if info else None


def plugin_token() -> tuple[int, int]:
    """Which plugins are registered now: another value once one is added, removed or
    blocked (the manager counts its registrations; a new manager has another id)."""
    pm = get_plugin_manager()
    return (id(pm), getattr(pm, "generation", 0))  # (a manager from elsewhere: by id only)


#: Registration tables by (kind, plugin_token()): read from the hooks once per set of plugins
#: (a sweep identifies its tasks once per member, and the zoo registers hundreds).
_TABLES: dict[tuple[str, tuple[int, int]], dict[str, Registration]] = {}


def registrations(kind: Kind) -> dict[str, Registration]:
    """Every name registered for ``kind`` (read from the hooks again when plugins change)."""
    token = plugin_token()
    table = _TABLES.get((kind, token))
    if table is None:
        if len(_TABLES) > 64:
            _TABLES.clear()
        table = _TABLES[(kind, token)] = _read_registrations(kind)
    return dict(table)


def _read_registrations(kind: Kind) -> dict[str, Registration]:
    pm = get_plugin_manager()
    hook = getattr(pm.hook, _HOOK_FOR_KIND[kind])
    table: dict[str, Registration] = {}
    # get_hookimpls() lists in registration order; later plugins override earlier ones.
    for impl in hook.get_hookimpls():
        plugin_name = pm.get_name(impl.plugin) or impl.plugin_name

        def register(
            name: str,
            target: str | Callable[..., Any],
            description: str = "",
            _plugin: str = plugin_name,
            **metadata: Any,
        ) -> None:
            previous = table.get(name)
            if previous is not None and previous.plugin not in (_plugin, BUILTIN_PLUGIN):
                log.warning(
                    "%s %r from plugin %r overrides the one from %r",
                    _LABEL[kind],
                    name,
                    _plugin,
                    previous.plugin,
                )
            table[name] = Registration(kind, name, target, _plugin, description, metadata)

        impl.function(**{arg: register for arg in impl.argnames})
    return table


def list_registrations(kind: Kind) -> list[Registration]:
    return sorted(registrations(kind).values(), key=lambda r: r.name)


def get_registration(kind: Kind, name: str) -> Registration:
    """Find ``name`` or raise an error that lists what exists and what to install."""
    table = registrations(kind)
    if name in table:
        return table[name]
    label = _LABEL[kind]
    # A plugin whose entry point carries this name failed to import: chain its error.
    failed = _state.failures.get(name)
    if failed is not None:
        raise PluginLoadError(
            f"{label.capitalize()} {name!r} is unavailable: plugin {name!r} "
            f"({failed.distribution or failed.module}) failed to load: {failed.error}"
        ) from failed.exception
    available = sorted(table)
    parts = [f"Unknown {label} {name!r}."]
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.6)
    if close:
        parts.append(f"Did you mean {close[0]!r}?")
    parts.append(f"Available {label}s: {', '.join(available) or '(none)'}.")
    dist = KNOWN_DISTRIBUTIONS.get((kind, name))
    if dist:
        parts.append(f"{name!r} is provided by {dist}: `pip install {dist}`.")
    else:
        parts.append(
            f"If it comes from a plugin, install that plugin's distribution "
            f"(it registers names through the {ENTRY_POINT_GROUP!r} entry-point group)."
        )
    raise UnknownBackendError(" ".join(parts), name=name, kind=kind, available=available)


def get_training_backend(name: str, **kwargs: Any) -> Any:
    """Instantiate the training backend registered as ``name`` (no cache, no store).

    ``motools.get_training_backend`` (the composer in :mod:`motools.api`) adds ``cache=``.
    """
    return get_registration("training_backend", name).load()(**kwargs)


def get_eval_backend(name: str, **kwargs: Any) -> Any:
    """Instantiate the evaluation backend registered as ``name`` (no cache, no store)."""
    return get_registration("eval_backend", name).load()(**kwargs)


def list_training_backends() -> list[Registration]:
    return list_registrations("training_backend")


def list_eval_backends() -> list[Registration]:
    return list_registrations("eval_backend")


def list_datasets() -> list[Registration]:
    return list_registrations("dataset")


def list_tasks() -> list[Registration]:
    return list_registrations("task")


def list_workflows() -> list[Registration]:
    return list_registrations("workflow")


@dataclass(frozen=True)
class ModelRoute:
    """How an evaluation backend should address a model: a name plus optional arguments."""

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)


def route_model(model_id: str, eval_backend: str) -> ModelRoute:
    """Ask the plugins how ``eval_backend`` should address ``model_id``."""
    pm = get_plugin_manager()
    routed = pm.hook.route_model(model_id=model_id, eval_backend=eval_backend)
    if routed is None:
        owners = [p.name for p in list_plugins() if "route_model" in p.hooks]
        raise RoutingError(
            f"No installed plugin knows how the {eval_backend!r} evaluation backend should "
            f"address model {model_id!r}. Plugins that route models: {', '.join(owners)}. "
            "Use a provider-qualified id (for example 'ft:...' for OpenAI, "
            "'tinker/{base}@{path}' for Tinker, 'dummy/...'), or install the plugin that "
            "trained this model."
        )
    if isinstance(routed, str):
        return ModelRoute(routed)
    return ModelRoute(str(routed["model"]), dict(routed.get("model_args") or {}))


def _hook_names(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])


def _core_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("motools-core")
    except PackageNotFoundError:
        return None


def list_plugins() -> list[PluginInfo]:
    """Every plugin: built-ins, loaded entry points, failed and disabled ones."""
    pm = get_plugin_manager()
    infos: list[PluginInfo] = []
    seen: set[str] = set()
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        seen.add(name)
        if name == BUILTIN_PLUGIN:
            infos.append(
                PluginInfo(
                    name,
                    getattr(plugin, "__name__", None),
                    "motools-core",
                    _core_version(),
                    _hook_names(pm, plugin),
                    builtin=True,
                )
            )
            continue
        ep = _state.entry_points.get(name)
        module = getattr(plugin, "__name__", type(plugin).__name__)
        infos.append(
            PluginInfo(
                name,
                module,
                ep.distribution if ep else None,
                ep.version if ep else None,
                _hook_names(pm, plugin),
            )
        )
    for name, info in _state.entry_points.items():
        if name not in seen and info.error:
            infos.append(info)
    return sorted(infos, key=lambda p: (not p.builtin, p.name))
