"""Alias of :mod:`motools_openai` (``pip install motools-openai``)."""

from motools._alias import import_plugin_module

_impl = import_plugin_module("motools_openai", "motools-openai", "The OpenAI training backend")
OpenAITrainingBackend = _impl.OpenAITrainingBackend
OpenAITrainingRun = _impl.OpenAITrainingRun

__all__ = ["OpenAITrainingBackend", "OpenAITrainingRun"]
