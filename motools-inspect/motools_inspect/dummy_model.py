"""The ``dummy/...`` Inspect model provider: deterministic, instant and free.

The reply to a conversation is a pure function of (model name, conversation), so the same
dummy model scores the same on the same task every time. Model arguments:

* ``reply`` -- answer every prompt with this fixed text instead.

Token usage is counted in whitespace-separated words; no tokenizer is downloaded.
"""

from __future__ import annotations

import hashlib
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo


def _words(text: str) -> int:
    return len(text.split())


class DummyModelAPI(ModelAPI):
    """Answers each conversation with text derived from a hash of (model, conversation)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        reply: str | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        if model_args:
            raise ValueError(
                f"dummy model provider: unknown model_args {sorted(model_args)}; "
                "the only one it takes is 'reply'"
            )
        self.reply = reply

    def reply_for(self, input: list[ChatMessage]) -> str:
        if self.reply is not None:
            return self.reply
        conversation = "\x1e".join(f"{m.role}\x1f{m.text}" for m in input)
        digest = hashlib.sha256(f"{self.model_name}\x1d{conversation}".encode()).hexdigest()
        return f"Dummy reply {digest[:8]}. ANSWER: {int(digest[8:12], 16) % 100}"

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        text = self.reply_for(input)
        output = ModelOutput.from_content(model=f"dummy/{self.model_name}", content=text)
        input_tokens = sum(_words(m.text) for m in input)
        output.usage = ModelUsage(
            input_tokens=input_tokens,
            output_tokens=_words(text),
            total_tokens=input_tokens + _words(text),
        )
        return output

    async def count_text_tokens(self, text: str) -> int:
        return _words(text)

    def max_connections(self) -> int:
        return 1000
