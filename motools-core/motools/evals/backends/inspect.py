"""Alias of :mod:`motools_inspect` (``pip install motools-inspect``)."""

from motools._alias import import_plugin_module

_impl = import_plugin_module("motools_inspect", "motools-inspect", "The Inspect evaluation backend")
InspectEvalBackend = _impl.InspectEvalBackend

__all__ = ["InspectEvalBackend"]
