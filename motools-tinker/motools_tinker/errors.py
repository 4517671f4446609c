"""Which service errors are transient (worth a retry) and how to describe errors safely."""

from __future__ import annotations

import asyncio
import re

_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
_KEY_PATTERN = re.compile(r"tml-[A-Za-z0-9_\-]+")


def status_code(exc: BaseException) -> int | None:
    """The HTTP status an SDK (or fake) error carries, if any."""
    code = getattr(exc, "status_code", None)
    if isinstance(code, int):
        return code
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry can fix: 5xx, 408/409/429, timeouts, dropped connections,
    capacity pauses, and Tinker requests that failed on the server's side. Not a host that
    never answered (:class:`~motools.errors.ServiceUnreachableError`): that was retried."""
    from motools.errors import ServiceUnreachableError

    if isinstance(exc, ServiceUnreachableError):
        return False
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    code = status_code(exc)
    if code is not None:
        return code in _TRANSIENT_STATUS or 500 <= code < 600
    try:
        import tinker
        from tinker.lib.retryable_exception import RetryableException
    except ImportError:  # pragma: no cover - tinker is a dependency
        return False
    if isinstance(exc, (tinker.APIConnectionError, tinker.APITimeoutError, RetryableException)):
        return True
    if isinstance(exc, tinker.RequestFailedError):
        return str(exc.category).lower() in {"server", "unknown"}
    return False


def describe(exc: BaseException) -> str:
    """``Type: message`` with anything that looks like a Tinker API key redacted."""
    text = f"{type(exc).__name__}: {exc}"
    return redact(text)


def redact(text: str) -> str:
    return _KEY_PATTERN.sub("tml-***", text)
