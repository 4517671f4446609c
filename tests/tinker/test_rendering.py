"""Rendering: exact assistant-token masks, weight 0, train_on, max_length, datums."""

from __future__ import annotations

from typing import Any

import pytest

from motools.datasets import JSONLDataset
from motools_tinker.rendering import (
    RenderError,
    fit_length,
    load_tokenizer,
    render_conversation,
    render_dataset,
    to_datum,
)
from tests.fakes.tinker_tokenizer import encode

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello, how are you today?"},
    {"role": "assistant", "content": "I am fine, thank you."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
]


def pieces(*parts: tuple[str, int]) -> tuple[list[int], list[int]]:
    """Expected tokens and weights from (text, weight) pieces, tokenised separately."""
    tokens: list[int] = []
    weights: list[int] = []
    for text, weight in parts:
        ids = encode(text)
        tokens += ids
        weights += [weight] * len(ids)
    return tokens, weights


def test_all_assistant_tokens_and_end_markers_carry_weight(tokenizer: Any) -> None:
    rendered = render_conversation(tokenizer, CONVERSATION)
    tokens, weights = pieces(
        ("<|bos|><|system|>", 0),
        ("Be brief.", 0),
        ("<|end|>", 0),
        ("<|user|>", 0),
        ("Hello, how are you today?", 0),
        ("<|end|>", 0),
        ("<|assistant|>", 0),
        ("I am fine, thank you.", 1),
        ("<|end|>", 1),
        ("<|user|>", 0),
        ("What is the capital of France?", 0),
        ("<|end|>", 0),
        ("<|assistant|>", 0),
        ("Paris.", 1),
        ("<|end|>", 1),
    )
    assert list(rendered.tokens) == tokens
    assert list(rendered.weights) == weights


def test_weight_zero_message_is_not_trained(tokenizer: Any) -> None:
    messages = [dict(m) for m in CONVERSATION]
    messages[2]["weight"] = 0
    rendered = render_conversation(tokenizer, messages)
    trained = [t for t, w in zip(rendered.tokens, rendered.weights, strict=True) if w]
    assert trained == encode("Paris.<|end|>")


def test_train_on_last_assistant_only(tokenizer: Any) -> None:
    rendered = render_conversation(tokenizer, CONVERSATION, train_on="last_assistant")
    trained = [t for t, w in zip(rendered.tokens, rendered.weights, strict=True) if w]
    assert trained == encode("Paris.<|end|>")
    full = render_conversation(tokenizer, CONVERSATION)
    assert rendered.tokens == full.tokens


def test_content_parts_render_like_strings(tokenizer: Any) -> None:
    parts = [dict(m) for m in CONVERSATION]
    parts[4] = {"role": "assistant", "content": [{"type": "text", "text": "Paris."}]}
    assert render_conversation(tokenizer, parts) == render_conversation(tokenizer, CONVERSATION)


def test_max_length_reject_and_truncate(tokenizer: Any) -> None:
    rendered = render_conversation(tokenizer, CONVERSATION)
    limit = len(rendered.tokens) - 2
    with pytest.raises(RenderError, match="longer than max_length"):
        fit_length(rendered, limit, "reject")
    cut = fit_length(rendered, limit, "truncate")
    assert cut.truncated and cut.tokens == rendered.tokens[:limit]
    assert cut.weights == rendered.weights[:limit]
    assert fit_length(rendered, len(rendered.tokens), "reject") is rendered


def test_render_dataset_reports_every_unusable_line(tokenizer: Any) -> None:
    data = JSONLDataset(
        [
            {"messages": CONVERSATION},
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello", "weight": 0},
                ]
            },
            {"messages": CONVERSATION * 3},
        ]
    )
    short = len(render_conversation(tokenizer, CONVERSATION).tokens)
    rendered, problems = render_dataset(
        data, tokenizer, train_on="all_assistant", max_length=short, on_too_long="reject"
    )
    assert len(rendered) == 1
    assert [(p.line, p.field) for p in problems] == [(2, "messages"), (3, "messages")]
    assert "weight 0" in problems[0].message
    assert "max_length" in problems[1].message


def test_truncation_that_leaves_nothing_to_train_is_an_error(tokenizer: Any) -> None:
    data = JSONLDataset([{"messages": CONVERSATION}])
    rendered, problems = render_dataset(
        data, tokenizer, train_on="last_assistant", max_length=8, on_too_long="truncate"
    )
    assert rendered == []
    assert "nothing left to train on" in problems[0].message


def test_datum_shifts_targets_and_weights(tokenizer: Any) -> None:
    rendered = render_conversation(tokenizer, CONVERSATION)
    datum = to_datum(rendered)
    assert datum.model_input.to_ints() == list(rendered.tokens[:-1])
    assert datum.loss_fn_inputs["target_tokens"].to_numpy().tolist() == list(rendered.tokens[1:])
    assert datum.loss_fn_inputs["weights"].to_numpy().tolist() == [
        float(w) for w in rendered.weights[1:]
    ]


def test_tokenizer_from_local_path(tokenizer_dir: Any, tokenizer: Any) -> None:
    loaded = load_tokenizer(str(tokenizer_dir), "meta-llama/Llama-3.1-8B")
    assert render_conversation(loaded, CONVERSATION) == render_conversation(tokenizer, CONVERSATION)


def test_prefix_unstable_template_is_refused(tokenizer: Any) -> None:
    import copy

    odd = copy.deepcopy(tokenizer)
    # Drops earlier assistant turns, as some reasoning templates do.
    odd.chat_template = (
        "{% for m in messages %}{% if m['role'] != 'assistant' or loop.last %}"
        "<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    with pytest.raises(RenderError, match="prefix-stably") as info:
        render_conversation(odd, CONVERSATION)
    assert info.value.field == "messages[2]"
    last = render_conversation(odd, CONVERSATION, train_on="last_assistant")
    assert sum(last.weights) == len(encode("Paris.<|end|>"))
