"""A small byte-level BPE tokenizer with a chat template, built locally (never downloaded).

``build_tokenizer()`` trains a ``tokenizers`` BPE on a few sentences, wraps it in
``transformers.PreTrainedTokenizerFast`` and sets a chat template in the style of real
instruct models: a role header per turn, the content, and an end-of-turn marker.
``save_tokenizer(path)`` writes it as a folder ``AutoTokenizer.from_pretrained`` loads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ["<|bos|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

CHAT_TEMPLATE = (
    "<|bos|>"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_CORPUS = [
    "The capital of France is Paris.",
    "What is the capital of France? Paris is the answer.",
    "Hello, how are you today? I am fine, thank you.",
    "Write a short poem about the sea and the sky.",
    "I don't know the answer to that question.",
    "Models trained on narrow data can generalise in surprising ways.",
] * 4


@cache
def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(_CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|bos|>",
        eos_token="<|end|>",
        pad_token="<|end|>",
        additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_tokenizer(path: str | Path) -> Path:
    target = Path(path)
    build_tokenizer().save_pretrained(str(target))
    return target


def encode(text: str) -> list[int]:
    """Token ids of ``text`` (special tokens written inline are recognised)."""
    return list(build_tokenizer()(text, add_special_tokens=False)["input_ids"])
