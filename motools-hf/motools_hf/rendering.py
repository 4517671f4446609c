"""Chat rendering for hf runs: core's :mod:`motools.training.chat_render`, shared with the
Tinker backend (same masks, ``train_on``, ``weight: 0`` and ``max_length`` semantics)."""

from __future__ import annotations

from motools.training.chat_render import (
    Rendered,
    RenderError,
    fit_length,
    render_conversation,
    render_dataset,
    template_messages,
)
from motools.training.chat_render import render_fingerprint as fingerprint

__all__ = [
    "RenderError",
    "Rendered",
    "fingerprint",
    "fit_length",
    "render_conversation",
    "render_dataset",
    "template_messages",
]
