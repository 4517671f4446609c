"""How evaluation backends address ``hf/...`` model ids.

An id is ``hf/{adapter folder}`` (or ``hf/{model folder or hub id}``): Inspect's ``hf``
provider loads the folder (transformers attaches a peft adapter and loads the base it names)
and its tokenizer. With vllm installed and a GPU present, ``vllm/{base}`` with the adapter as a
LoRA adapter is used instead (Inspect's ``vllm/{base}:{adapter}`` form, which starts a vLLM
server with LoRA enabled).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _vllm_usable() -> bool:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def inspect_route(model_id: str) -> str | dict[str, Any]:
    target = model_id[len("hf/") :]
    config = Path(target) / "adapter_config.json"
    if config.is_file() and _vllm_usable():
        base = json.loads(config.read_text()).get("base_model_name_or_path")
        if base:
            return {"model": f"vllm/{base}:{target}", "model_args": {}}
    return {"model": model_id, "model_args": {}}
