"""Tinker's side of chat rendering: the tokenizer Tinker uses for a base model, and the
``Datum`` a training step sends. The rendering itself (masks, ``train_on``, ``weight: 0``,
``max_length``) is core's :mod:`motools.training.chat_render`, shared with the hf backend."""

from __future__ import annotations

import threading
from typing import Any

from motools.errors import ValidationError
from motools.training.chat_render import (
    Rendered,
    RenderError,
    fit_length,
    render_conversation,
    render_dataset,
    render_fingerprint,
    template_messages,
)

_TOKENIZERS: dict[str, Any] = {}
_TOKENIZERS_LOCK = threading.Lock()


def default_tokenizer_name(base_model: str) -> str:
    """The Hugging Face tokenizer Tinker uses for ``base_model`` (mirrors the SDK's choice)."""
    name = base_model.split(":")[0]
    if name.startswith("meta-llama/Llama-3"):
        return "thinkingmachineslabinc/meta-llama-3-instruct-tokenizer"
    if name.count("/") == 2:
        org, model, _variant = name.split("/", 2)
        return f"{org}/{model}"
    return name


def load_tokenizer(spec: Any, base_model: str) -> Any:
    """A tokenizer from a name or local path (cached), or ``spec`` itself if it is one."""
    if spec is not None and not isinstance(spec, str):
        if not hasattr(spec, "apply_chat_template"):
            raise ValidationError(
                f"tokenizer must be a name, a local path or a transformers tokenizer, "
                f"got {type(spec).__name__}"
            )
        return spec
    name = spec or default_tokenizer_name(base_model)
    with _TOKENIZERS_LOCK:
        if name in _TOKENIZERS:
            return _TOKENIZERS[name]
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except Exception as exc:
        raise ValidationError(
            f"Could not load the tokenizer {name!r} for {base_model!r}: {type(exc).__name__}: "
            f"{exc}. Pass tokenizer= a local tokenizer folder or a tokenizer object."
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ValidationError(f"tokenizer {name!r} is not a fast tokenizer (offsets are needed)")
    if not getattr(tokenizer, "chat_template", None):
        raise ValidationError(f"tokenizer {name!r} has no chat template")
    with _TOKENIZERS_LOCK:
        _TOKENIZERS[name] = tokenizer
    return tokenizer


def to_datum(item: Rendered) -> Any:
    """A ``tinker.types.Datum``: input tokens[:-1], targets tokens[1:] with their weights."""
    import numpy as np
    from tinker import types

    tokens = list(item.tokens)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={
            "target_tokens": types.TensorData.from_numpy(np.asarray(tokens[1:], dtype=np.int64)),
            "weights": types.TensorData.from_numpy(np.asarray(item.weights[1:], dtype=np.float32)),
        },
    )


__all__ = [
    "RenderError",
    "Rendered",
    "default_tokenizer_name",
    "fit_length",
    "load_tokenizer",
    "render_conversation",
    "render_dataset",
    "render_fingerprint",
    "template_messages",
    "to_datum",
]
