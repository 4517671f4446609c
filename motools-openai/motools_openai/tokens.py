"""Token counting for OpenAI models with tiktoken, fully offline.

tiktoken normally downloads its BPE files on first use. motools ships the two encodings that
fine-tunable models use (``o200k_base`` and ``cl100k_base``) inside this package, xz-compressed,
and builds ``tiktoken.Encoding`` objects from them directly: nothing is fetched or cached at
run time. Each file is checked against the sha256 that tiktoken itself pins for it.

The files were rebuilt byte for byte from the ranks shipped by the ``js-tiktoken`` npm package
(v1.0.21); their digests equal tiktoken's ``expected_hash`` values.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import lzma
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

_ENDOFTEXT = "<|endoftext|>"
_ENDOFPROMPT = "<|endofprompt|>"

_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PAT = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""

#: name -> (sha256 of the uncompressed .tiktoken file, regex, special tokens)
ENCODINGS: dict[str, tuple[str, str, dict[str, int]]] = {
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT,
        {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    ),
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT,
        {
            _ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            _ENDOFPROMPT: 100276,
        },
    ),
}

#: Chat-format overhead per message and per reply (OpenAI's published counting recipe).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_REPLY = 3


def _load_ranks(name: str) -> dict[bytes, int]:
    expected, _, _ = ENCODINGS[name]
    raw = lzma.decompress(
        resources.files("motools_openai").joinpath(f"encodings/{name}.tiktoken.xz").read_bytes()
    )
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected:
        raise RuntimeError(
            f"the bundled {name} encoding is corrupt (sha256 {digest}, expected {expected}); "
            "reinstall motools-openai"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` built from the bundled file (never downloaded)."""
    import tiktoken

    if name not in ENCODINGS:
        raise ValueError(f"no bundled tiktoken encoding {name!r} (have: {', '.join(ENCODINGS)})")
    _, pattern, special = ENCODINGS[name]
    return tiktoken.Encoding(
        name=name, pat_str=pattern, mergeable_ranks=_load_ranks(name), special_tokens=special
    )


def base_model_name(model: str) -> str:
    """``ft:gpt-4o-mini-2024-07-18:org:suffix:abc`` -> ``gpt-4o-mini-2024-07-18``."""
    if model.startswith("ft:"):
        parts = model.split(":")
        return parts[1] if len(parts) > 1 else model
    return model


def encoding_name_for_model(model: str) -> str:
    """Which bundled encoding ``model`` (a base or ``ft:`` id) uses."""
    from tiktoken.model import encoding_name_for_model as lookup  # a table; no download

    base = base_model_name(model)
    try:
        name = lookup(base)
    except KeyError:
        name = "o200k_base" if base.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")) else "cl100k_base"
    return name if name in ENCODINGS else "cl100k_base"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def count_message_tokens(messages: Iterable[Mapping[str, Any]], encoding: tiktoken.Encoding) -> int:
    """Tokens of a list of chat messages, counted the way OpenAI's cookbook does."""
    encode = encoding.encode_ordinary
    total = 0
    for msg in messages:
        total += TOKENS_PER_MESSAGE
        total += len(encode(str(msg.get("role", ""))))
        total += len(encode(_text_of(msg.get("content"))))
        if msg.get("name"):
            total += TOKENS_PER_NAME + len(encode(str(msg["name"])))
        for call in msg.get("tool_calls") or ():
            fn = call.get("function") or {} if isinstance(call, dict) else {}
            total += len(encode(str(fn.get("name", "")))) + len(encode(str(fn.get("arguments", ""))))
    return total + TOKENS_PER_REPLY


def count_example_tokens(sample: Mapping[str, Any], encoding: tiktoken.Encoding) -> int:
    """Tokens of one training example: a chat, or a DPO pair (prompt plus both answers)."""
    if "messages" in sample:
        return count_message_tokens(sample["messages"], encoding)
    prompt = (sample.get("input") or {}).get("messages") or []
    total = count_message_tokens(prompt, encoding)
    for key in ("preferred_output", "non_preferred_output"):
        total += count_message_tokens(sample.get(key) or [], encoding) - TOKENS_PER_REPLY
    return total
