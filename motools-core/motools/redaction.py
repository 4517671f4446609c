"""The one list of option names that look like credentials.

Anything named like this is dropped from cache keys, records, provenance, logs and metadata.
The match is on whole name parts (``api_key``, ``OPENAI_API_KEY``, ``hf_token``, ``password``),
so ``max_tokens``, ``tokenizer`` and ``cache_key`` are ordinary options.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

SECRET_NAME = re.compile(
    r"(?:^|_)(?:api_?key|access_?key|private_?key|secret(?:_?key)?|token|password|passwd"
    r"|auth|authorization|credentials?|bearer)(?:_|$)",
    re.IGNORECASE,
)


def is_secret_name(name: object) -> bool:
    """Whether an option or field called ``name`` must never be stored or shown."""
    return _is_secret_text(str(name))


@functools.lru_cache(maxsize=4096)
def _is_secret_text(name: str) -> bool:  # the same few names come up for every key
    return bool(SECRET_NAME.search(re.sub(r"[-.\s]", "_", name)))


def redact(value: Any) -> Any:
    """A copy of ``value`` with every secret-named mapping key removed, recursively."""
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items() if not is_secret_name(k)}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def redact_url(url: str) -> str:
    """``url`` without its password (``postgresql://me:pw@host/db`` -> ``postgresql://me@host/db``)
    and without query parameters named like credentials; safe to print and to store."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_secret_name(k)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_has_password(url: str) -> bool:
    """Whether ``url`` carries a password (in its user part or a ``password=`` parameter)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    if "@" in parts.netloc and ":" in parts.netloc.rpartition("@")[0]:
        return True
    return any(is_secret_name(k) for k, _ in parse_qsl(parts.query))
