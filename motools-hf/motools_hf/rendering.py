"""Chat rendering: conversations to token ids with the exact tokens that carry loss.

Each conversation is rendered with the base model's chat template. Only the tokens of trained
assistant messages -- their content and the template's end-of-turn marker, not the role
header -- carry loss. Spans are found on the rendered text (the prefix up to the assistant's
turn with the generation prompt, and the prefix through the end of it) and mapped to tokens
with the fast tokenizer's offsets, so token boundaries never shift a mask.

The semantics (``train_on``, per-message ``weight: 0``, ``max_length``/``on_too_long``) are
those of the Tinker backend; both should move to one module in core (see the closing note of
the motools-hf branch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motools.datasets import Problem

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset


@dataclass(frozen=True)
class Rendered:
    """One conversation as tokens, with a 0/1 loss mask per token."""

    tokens: tuple[int, ...]
    mask: tuple[int, ...]
    truncated: bool = False

    @property
    def n_trained(self) -> int:
        # the first token is never predicted
        return sum(self.mask[1:])


class RenderError(ValueError):
    """A conversation that cannot be rendered for training; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def template_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them: text content, no motools-only keys."""
    out = []
    for msg in messages:
        item = {k: v for k, v in msg.items() if k != "weight"}
        content = item.get("content")
        if isinstance(content, list):
            item["content"] = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        elif content is None:
            item["content"] = ""
        out.append(item)
    return out


def _text(tokenizer: Any, messages: list[dict[str, Any]], generation_prompt: bool) -> str:
    if not messages and not generation_prompt:
        return ""
    return str(
        tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    )


def render_conversation(
    tokenizer: Any, messages: Sequence[Mapping[str, Any]], *, train_on: str = "all_assistant"
) -> Rendered:
    """Tokens and loss mask for one conversation (raises :class:`RenderError`)."""
    clean = template_messages(messages)
    assistant = [i for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if train_on == "last_assistant":
        assistant = assistant[-1:]
    trained = [i for i in assistant if messages[i].get("weight", 1) != 0]
    try:
        full = _text(tokenizer, clean, False)
    except Exception as exc:
        raise RenderError("messages", f"chat template failed: {type(exc).__name__}: {exc}") from exc
    spans: list[tuple[int, int]] = []
    for i in trained:
        try:
            start = _text(tokenizer, clean[:i], True)
            end = _text(tokenizer, clean[: i + 1], False)
        except Exception as exc:
            raise RenderError(
                f"messages[{i}]", f"chat template failed: {type(exc).__name__}: {exc}"
            ) from exc
        if not (end.startswith(start) and full.startswith(end)):
            raise RenderError(
                f"messages[{i}]",
                "the chat template does not render this conversation prefix-stably (earlier "
                "turns change when later ones are added), so the assistant tokens cannot be "
                "located exactly; train with train_on='last_assistant' or simplify the turns",
            )
        spans.append((len(start), len(end)))
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    mask = [
        1 if end > begin and any(s <= begin < e for s, e in spans) else 0
        for begin, end in encoded["offset_mapping"]
    ]
    return Rendered(tuple(encoded["input_ids"]), tuple(mask))


def fit_length(item: Rendered, max_length: int | None, on_too_long: str) -> Rendered:
    """Apply ``max_length``: cut (``truncate``) or raise :class:`RenderError` (``reject``)."""
    if max_length is None or len(item.tokens) <= max_length:
        return item
    if on_too_long == "reject":
        raise RenderError(
            "messages",
            f"{len(item.tokens)} tokens is longer than max_length={max_length}; shorten it, "
            "raise max_length, or set on_too_long='truncate'",
        )
    return Rendered(item.tokens[:max_length], item.mask[:max_length], truncated=True)


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
        if item.n_trained == 0:
            why = (
                "nothing left to train on after truncation to max_length"
                if item.truncated
                else "no assistant tokens carry loss (every assistant message has weight 0)"
            )
            problems.append(Problem(line, "messages", why))
            continue
        rendered.append(item)
    return rendered, problems


def fingerprint(items: list[Rendered]) -> str:
    """A hash of every token and mask, to check a resumed run renders the same data."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.tokens, item.mask]).encode())
    return digest.hexdigest()[:32]
