"""Support for the seed-documented import paths that alias plugin distributions."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_plugin_module(module: str, distribution: str, what: str) -> ModuleType:
    """Import ``module`` from ``distribution`` or raise ImportError with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and not (exc.name == module or module.startswith(exc.name + ".")):
            # The plugin is installed but one of its own dependencies is broken.
            raise ImportError(
                f"{what} is installed ({distribution}) but failed to import: {exc}. "
                f"Try `pip install --force-reinstall {distribution}`."
            ) from exc
        raise ImportError(
            f"{what} lives in the {distribution} distribution, which is not installed. "
            f"Install it with `pip install {distribution}`."
        ) from exc
