"""Chat rendering shared by the backends that run their own training loop (Tinker, hf).

Each conversation is rendered with the base model's chat template (a fast ``transformers``
tokenizer, passed in: nothing here imports transformers). Only the tokens of trained
assistant messages -- their content and the template's end-of-turn marker, not the role
header -- carry weight 1. Spans are found on the rendered text (the prefix up to the
assistant's turn, with the generation prompt, and the prefix through the end of it) and mapped
to tokens with the fast tokenizer's offsets, so token boundaries never shift a mask.
``train_on``, per-message ``weight: 0`` and ``max_length``/``on_too_long`` mean the same for
every backend.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motools.datasets.validation import Problem

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset


@dataclass(frozen=True)
class Rendered:
    """One conversation as tokens, with the loss weight of every token (0 or 1)."""

    tokens: tuple[int, ...]
    weights: tuple[int, ...]
    truncated: bool = False

    @property
    def mask(self) -> tuple[int, ...]:
        """The weights as a 0/1 loss mask (the same tuple)."""
        return self.weights

    @property
    def n_trained(self) -> int:
        """Tokens that carry loss (the first token is never predicted)."""
        return sum(self.weights[1:])


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
