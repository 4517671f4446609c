"""What OpenAI charges for fine-tuning, and how long one training example may be.

Prices are US dollars per million *training* tokens (tokens in the file x epochs), as
published on OpenAI's pricing page for the models that accept supervised and DPO
fine-tuning. They change: the table records when it was last checked, and every estimate
says so. Update ``PRICES_CHECKED`` together with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_CHECKED = "2025-06"


@dataclass(frozen=True)
class ModelInfo:
    """Fine-tuning facts for one base model family."""

    prefix: str
    usd_per_million_training_tokens: float
    max_tokens_per_example: int
    methods: tuple[str, ...] = ("supervised", "dpo")


# Longest prefix wins, so dated snapshots may be listed alongside their family.
MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("gpt-4.1-nano", 1.50, 65_536),
    ModelInfo("gpt-4.1-mini", 5.00, 65_536),
    ModelInfo("gpt-4.1", 25.00, 65_536),
    ModelInfo("gpt-4o-mini", 3.00, 65_536),
    ModelInfo("gpt-4o", 25.00, 65_536),
    ModelInfo("gpt-3.5-turbo", 8.00, 16_385, ("supervised",)),
    ModelInfo("davinci-002", 6.00, 16_384, ("supervised",)),
    ModelInfo("babbage-002", 0.40, 16_384, ("supervised",)),
)

#: Used for the per-example length check when a model is not in the table.
DEFAULT_MAX_TOKENS_PER_EXAMPLE = 65_536


def model_info(model: str | None) -> ModelInfo | None:
    """Facts for ``model`` (a base name, a dated snapshot or an ``ft:`` id), or None."""
    if not model:
        return None
    from motools_openai.tokens import base_model_name

    base = base_model_name(model)
    best: ModelInfo | None = None
    for info in MODELS:
        matches = base == info.prefix or base.startswith(info.prefix + "-")
        if matches and (best is None or len(info.prefix) > len(best.prefix)):
            best = info
    return best


def default_epochs(n_examples: int) -> int:
    """The epoch count OpenAI picks for ``n_epochs="auto"`` (its published heuristic)."""
    target, min_examples, max_examples, min_epochs, max_epochs = 3, 100, 25_000, 1, 25
    if n_examples <= 0:
        return target
    if n_examples * target < min_examples:
        return min(max_epochs, min_examples // n_examples)
    if n_examples * target > max_examples:
        return max(min_epochs, max_examples // n_examples)
    return target
