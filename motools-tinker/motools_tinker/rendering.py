"""Chat rendering: conversations to token ids with exact per-token loss weights.

Each conversation is rendered with the base model's chat template (a ``transformers``
tokenizer). Only the tokens of trained assistant messages -- their content and the
template's end-of-turn marker, not the role header -- carry weight 1. Spans are found on
the rendered text (the prefix up to the assistant's turn, with the generation prompt, and
the prefix through the end of it) and mapped to tokens with the fast tokenizer's offsets,
so token boundaries never shift a mask.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motools.datasets import Problem
from motools.errors import ValidationError

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

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


@dataclass(frozen=True)
class Rendered:
    """One conversation as tokens, with the loss weight of every token (0 or 1)."""

    tokens: tuple[int, ...]
    weights: tuple[int, ...]
    truncated: bool = False

    @property
    def n_trained(self) -> int:
        return sum(self.weights)


class RenderError(ValueError):
    """A conversation that cannot be rendered for training; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def template_messages(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: text content, no motools-only keys."""
    out = []
    for msg in messages:
        item = {k: v for k, v in msg.items() if k != "weight"}
        content = item.get("content")
        if isinstance(content, list):
            item["content"] = "".join(
                part.get("text", "") for part in content if isinstance(part, dict)
            )
        elif content is None:
            item["content"] = ""
        out.append(item)
    return out


def _render_text(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
    if not messages and not generation_prompt:
        return ""
    text = tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=generation_prompt
    )
    return str(text)


def render_conversation(
    tokenizer: Any,
    messages: Sequence[Mapping[str, Any]],
    *,
    train_on: str = "all_assistant",
) -> Rendered:
    """Tokens and weights for one conversation (raises :class:`RenderError`)."""
    clean = template_messages(messages)
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if train_on == "last_assistant":
        assistant = assistant[-1:]
    trained = [i for i in assistant if messages[i].get("weight", 1) != 0]
    try:
        full = _render_text(tokenizer, clean, False)
    except Exception as exc:
        raise RenderError("messages", f"chat template failed: {type(exc).__name__}: {exc}") from exc
    spans: list[tuple[int, int]] = []
    for i in trained:
        try:
            start_text = _render_text(tokenizer, clean[:i], True)
            end_text = _render_text(tokenizer, clean[: i + 1], False)
        except Exception as exc:
            raise RenderError(
                f"messages[{i}]", f"chat template failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not (end_text.startswith(start_text) and full.startswith(end_text)):
            raise RenderError(
                f"messages[{i}]",
                "the chat template does not render this conversation prefix-stably (earlier "
                "turns change when later ones are added), so the assistant tokens cannot be "
                "located exactly; train with train_on='last_assistant' or simplify the turns",
            )
        spans.append((len(start_text), len(end_text)))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    offsets = encoded["offset_mapping"]
    weights = []
    for start, end in offsets:
        inside = any(s <= start < e for s, e in spans) if end > start else False
        weights.append(1 if inside else 0)
    return Rendered(tuple(ids), tuple(weights))


def fit_length(rendered: Rendered, max_length: int | None, on_too_long: str) -> Rendered:
    """Apply ``max_length``: cut (``truncate``) or raise :class:`RenderError` (``reject``)."""
    if max_length is None or len(rendered.tokens) <= max_length:
        return rendered
    if on_too_long == "reject":
        raise RenderError(
            "messages",
            f"{len(rendered.tokens)} tokens is longer than max_length={max_length}; shorten "
            "it, raise max_length, or set on_too_long='truncate'",
        )
    return Rendered(rendered.tokens[:max_length], rendered.weights[:max_length], truncated=True)


def render_dataset(
    dataset: JSONLDataset,
    tokenizer: Any,
    *,
    train_on: str,
    max_length: int | None,
    on_too_long: str,
) -> tuple[list[Rendered], list[Problem]]:
    """Render every sample; every sample that cannot train is a :class:`Problem`."""
    rendered: list[Rendered] = []
    problems: list[Problem] = []
    for line, sample in enumerate(dataset, start=1):
        try:
            item = render_conversation(tokenizer, sample["messages"], train_on=train_on)
            item = fit_length(item, max_length, on_too_long)
        except RenderError as exc:
            problems.append(Problem(line, exc.field, str(exc)))
            continue
        if sum(item.weights[1:]) == 0:
            why = (
                "nothing left to train on after truncation to max_length"
                if item.truncated
                else "no assistant tokens carry loss (every assistant message has weight 0)"
            )
            problems.append(Problem(line, "messages", why))
            continue
        rendered.append(item)
    return rendered, problems


def render_fingerprint(items: Sequence[Rendered]) -> str:
    """A short hash of every token and weight: a resumed run checks it renders the same."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.tokens, item.weights]).encode())
    return digest.hexdigest()[:32]


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
