"""Which Inspect model providers exist, read from Inspect's own registry (lazily).

Importing this module is light; ``inspect_ai`` is imported on the first question asked.
"""

from __future__ import annotations

DUMMY_PREFIX = "dummy/"
OWN_PACKAGE = "motools_inspect"


def _providers(include_extensions: bool) -> dict[str, str]:
    """``{provider name: package that registered it}`` from Inspect's registry."""
    import inspect_ai.model  # noqa: F401  (registers the built-in providers)
    from inspect_ai._util.registry import registry_find, registry_info

    if include_extensions:
        from inspect_ai._util.entrypoints import ensure_entry_points

        ensure_entry_points()  # Inspect itself does this on its first get_model()
    found: dict[str, str] = {}
    for api in registry_find(lambda info: info.type == "modelapi"):
        package, _, name = registry_info(api).name.rpartition("/")
        found[name] = package or "inspect_ai"
    return found


def inspect_provider_names(*, include_extensions: bool = True) -> list[str]:
    """Names of the Inspect model providers (``openai``, ``hf``, ``mockllm``, ``dummy``, ...).

    Built-in providers are registered when ``inspect_ai.model`` is imported. Providers of
    extension packages (motools' ``dummy``, motools-tinker's ``tinker``, third-party ones)
    register through Inspect's ``inspect_ai`` entry-point group, which
    ``include_extensions`` loads.
    """
    return sorted(_providers(include_extensions))


def _motools_plugin_packages() -> set[str]:
    """Top-level packages of the installed motools plugins (``motools_tinker``, ...)."""
    from importlib.metadata import entry_points

    return {ep.value.split(".", 1)[0].split(":", 1)[0] for ep in entry_points(group="motools")}


def names_inspect_provider(model_id: str) -> bool:
    """Whether this plugin should pass ``model_id`` through to Inspect unchanged.

    True for ``provider/model`` ids of a provider Inspect knows -- except providers shipped
    by *another* motools plugin (motools-tinker's ``tinker``): that plugin routes its own
    ids through ``route_model``, with whatever arguments they need.
    """
    provider, sep, rest = model_id.partition("/")
    if not sep or not rest or not provider:
        return False
    providers = _providers(include_extensions=False)
    if provider not in providers:
        providers = _providers(include_extensions=True)
    package = providers.get(provider)
    if package is None:
        return False
    return package == OWN_PACKAGE or package not in _motools_plugin_packages()
