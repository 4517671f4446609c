"""Alias of :mod:`motools_tinker` (``pip install motools-tinker``)."""

from motools._alias import import_plugin_module

_impl = import_plugin_module("motools_tinker", "motools-tinker", "The Tinker training backend")
TinkerTrainingBackend = _impl.TinkerTrainingBackend
TinkerTrainingRun = _impl.TinkerTrainingRun

__all__ = ["TinkerTrainingBackend", "TinkerTrainingRun"]
