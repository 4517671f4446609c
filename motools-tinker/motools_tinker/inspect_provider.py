"""Inspect model provider for Tinker models: ``tinker/{base}@{tinker://...}`` or ``tinker/{base}``.

The prompt is rendered with the base model's chat template (the same tokenizer the training
backend used; ``-M tokenizer=NAME_OR_PATH`` or ``MOTOOLS_TINKER_TOKENIZER`` to choose
another), sampled through the ``tinker`` SDK, and decoded without special tokens.
``max_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop_seqs`` and ``num_choices`` map
onto Tinker's sampling parameters; token usage is reported.

Model args: ``tokenizer``, ``base_url`` (else ``TINKER_BASE_URL``), ``api_key`` (else
``TINKER_API_KEY``), ``max_tokens`` (default when the task sets none, 1024).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.model._model_call import ModelCall
from inspect_ai.tool import ToolChoice, ToolInfo

from motools_tinker.errors import is_transient
from motools_tinker.rendering import load_tokenizer

DEFAULT_MAX_TOKENS = 1024


def parse_model_name(model_name: str) -> tuple[str, str | None]:
    """``"base@tinker://path"`` -> ``(base, path)``; ``"base"`` -> ``(base, None)``."""
    base, sep, path = model_name.partition("@")
    if not base:
        raise ValueError(f"Tinker model name {model_name!r} has no base model")
    if sep and not path.startswith("tinker://"):
        raise ValueError(
            f"Tinker model name {model_name!r}: the part after '@' must be a tinker:// path"
        )
    return base, (path or None)


def _stop_reason(reason: str) -> Any:
    return {"length": "max_tokens", "stop": "stop"}.get(reason, "unknown")


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cut = len(text)
    for stop in stops:
        index = text.find(stop)
        if index != -1:
            cut = min(cut, index)
    return text[:cut]


class TinkerModelAPI(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_vars: list[str] | None = None,
        config: GenerateConfig | None = None,
        tokenizer: Any = None,
        max_tokens: int | None = None,
        service: Any = None,
        **model_args: Any,
    ) -> None:
        super().__init__(
            model_name=model_name,
            base_url=base_url or os.environ.get("TINKER_BASE_URL"),
            api_key=api_key,
            api_key_vars=["TINKER_API_KEY"],
            config=config or GenerateConfig(),
        )
        if model_args:
            raise ValueError(
                f"tinker provider: unknown model args {sorted(model_args)} "
                "(accepted: tokenizer, base_url, api_key, max_tokens)"
            )
        self.base_model, self.model_path = parse_model_name(model_name)
        self._tokenizer_spec = tokenizer or os.environ.get("MOTOOLS_TINKER_TOKENIZER")
        self._tokenizer: Any = None
        self._default_max_tokens = int(max_tokens or DEFAULT_MAX_TOKENS)
        self._service = service
        self._sampler: Any = None
        self._sampler_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TinkerModelAPI(model_name={self.model_name!r})"

    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self._tokenizer_spec, self.base_model)
        return self._tokenizer

    async def _sampling_client(self) -> Any:
        async with self._sampler_lock:
            if self._sampler is None:
                if self._service is None:
                    from motools_tinker.service import SDKService

                    self._service = SDKService(api_key=self.api_key, base_url=self.base_url)
                if self.model_path:
                    self._sampler = await self._service.create_sampling_client(
                        model_path=self.model_path
                    )
                else:
                    self._sampler = await self._service.create_sampling_client(
                        base_model=self.base_model
                    )
            return self._sampler

    def max_tokens(self) -> int | None:
        return self._default_max_tokens

    def should_retry(self, ex: Exception) -> bool:
        return is_transient(ex)

    def connection_key(self) -> str:
        return f"tinker:{self.base_url or 'default'}"

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> tuple[ModelOutput, ModelCall]:
        from tinker import types

        if tools:
            raise ValueError("the tinker provider does not support tool calling")
        tokenizer = self.tokenizer()
        messages = [{"role": m.role, "content": m.text} for m in input]
        prompt_text = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        prompt = list(tokenizer(prompt_text, add_special_tokens=False)["input_ids"])
        stops = list(config.stop_seqs or [])
        params = types.SamplingParams(
            max_tokens=config.max_tokens or self._default_max_tokens,
            temperature=1.0 if config.temperature is None else config.temperature,
            top_p=1.0 if config.top_p is None else config.top_p,
            seed=config.seed,
            stop=stops or None,
        )
        num_samples = config.num_choices or 1
        request = {
            "model": self.model_name,
            "prompt_tokens": len(prompt),
            "num_samples": num_samples,
            "sampling_params": params.model_dump(exclude_none=True),
        }
        sampler = await self._sampling_client()
        response = await sampler.sample(
            prompt=types.ModelInput.from_ints(prompt),
            num_samples=num_samples,
            sampling_params=params,
        )
        choices = []
        output_tokens = 0
        for sequence in response.sequences:
            tokens = list(sequence.tokens)
            output_tokens += len(tokens)
            text = tokenizer.decode(tokens, skip_special_tokens=True)
            text = _cut_at_stop(text, stops)
            choices.append(
                ChatCompletionChoice(
                    message=ChatMessageAssistant(
                        content=text, model=self.model_name, source="generate"
                    ),
                    stop_reason=_stop_reason(sequence.stop_reason),
                )
            )
        usage = ModelUsage(
            input_tokens=len(prompt),
            output_tokens=output_tokens,
            total_tokens=len(prompt) + output_tokens,
        )
        output = ModelOutput(model=self.model_name, choices=choices, usage=usage)
        call = ModelCall.create(
            request=request,
            response={
                "sequences": [
                    {"tokens": len(s.tokens), "stop_reason": s.stop_reason}
                    for s in response.sequences
                ]
            },
        )
        return output, call
