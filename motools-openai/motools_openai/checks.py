"""OpenAI's own dataset rules, on top of motools' chat-format validation.

Everything here runs locally, before anything is uploaded: the core format checks (roles,
content, ``weight`` only 0 or 1 and only on assistant messages, last message from the
assistant), at least 10 examples, every example within the model's token limit, and for DPO
exactly one assistant message in each of ``preferred_output`` and ``non_preferred_output``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motools.datasets import Problem

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

MIN_EXAMPLES = 10


def detect_method(dataset: JSONLDataset) -> str:
    """``"dpo"`` for preference pairs, else ``"supervised"``."""
    for sample in dataset:
        return "dpo" if isinstance(sample, dict) and "preferred_output" in sample else "supervised"
    return "supervised"


def purpose_for(method: str) -> str:
    return "preference" if method == "dpo" else "supervised"


def _dpo_problems(sample: dict[str, Any], line: int, out: list[Problem]) -> None:
    for key in ("preferred_output", "non_preferred_output"):
        value = sample.get(key)
        if isinstance(value, list) and len(value) != 1:
            out.append(Problem(line, key, f"must hold exactly one assistant message, got {len(value)}"))


def check_dataset(dataset: JSONLDataset, model: str | None = None, method: str | None = None) -> list[Problem]:
    """Every reason OpenAI would reject ``dataset`` for fine-tuning ``model`` with ``method``."""
    from motools_openai.pricing import DEFAULT_MAX_TOKENS_PER_EXAMPLE, model_info
    from motools_openai.tokens import count_example_tokens, encoding_name_for_model, get_encoding

    method = method or detect_method(dataset)
    problems = list(dataset.problems(purpose_for(method)))
    if len(dataset) < MIN_EXAMPLES:
        problems.append(
            Problem(0, "", f"OpenAI fine-tuning needs at least {MIN_EXAMPLES} examples, got {len(dataset)}")
        )
    info = model_info(model)
    if info is not None and method not in info.methods:
        problems.append(
            Problem(0, "", f"{model} does not support {method} fine-tuning "
                    f"(it supports: {', '.join(info.methods)})")
        )
    if problems:
        return problems
    limit = info.max_tokens_per_example if info else DEFAULT_MAX_TOKENS_PER_EXAMPLE
    encoding = get_encoding(encoding_name_for_model(model or "gpt-4o-mini"))
    for line, sample in enumerate(dataset, start=1):
        if method == "dpo":
            _dpo_problems(sample, line, problems)
        tokens = count_example_tokens(sample, encoding)
        if tokens > limit:
            problems.append(
                Problem(line, "messages" if method != "dpo" else "",
                        f"example has {tokens} tokens; {model or 'OpenAI models'} accept at most "
                        f"{limit} per training example (shorten or drop it)")
            )
    return problems
