"""How OpenAI SDK errors become motools errors: transient ones are retried, the rest explained.

Transient: rate limits (429), server errors (5xx), timeouts, dropped connections. Those are
retried by the SDK itself and again, with :func:`motools.polling.retry_async`, around each
call. An authentication error fails at once with a message naming ``OPENAI_API_KEY``, and
never repeats what the server said (it echoes part of the key).
"""

from __future__ import annotations

from motools.errors import MotoolsError, ServiceUnreachableError, TrainingError


class OpenAIUnreachableError(ServiceUnreachableError, TrainingError):
    """OpenAI could not be reached after the bounded retries. Also a :class:`TrainingError`
    (``code == "connection_error"``), so callers that catch training errors still do."""

    def __init__(self, message: str, *, url: str, job_id: str | None = None) -> None:
        Exception.__init__(self, message)
        self.service = "OpenAI"
        self.url = url
        self.job_id = job_id
        self.code = "connection_error"


class OpenAIAuthenticationError(MotoolsError, PermissionError):
    """OpenAI rejected the API key (or it is missing)."""


AUTH_HINT = (
    "Set the OPENAI_API_KEY environment variable to a valid key "
    "(or pass api_key= to OpenAITrainingBackend)."
)


def is_transient(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``), if it said."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                return None
    return None


def redact(text: str, secret: str | None) -> str:
    if secret and len(secret) >= 6:
        text = text.replace(secret, "***")
    return text


def translate(
    exc: BaseException,
    *,
    action: str,
    secret: str | None = None,
    job_id: str | None = None,
    url: str | None = None,
    attempts: int | None = None,
) -> Exception:
    """A motools error for an SDK error raised while doing ``action`` (to raise ``from``).

    ``url`` (where requests went, without credentials) and ``attempts`` (how many times the
    call was tried) make a connection failure say where and how hard it tried.
    """
    import openai

    if isinstance(exc, openai.AuthenticationError):
        return OpenAIAuthenticationError(f"OpenAI rejected the API key while trying to {action} (HTTP 401). {AUTH_HINT}")
    if isinstance(exc, openai.PermissionDeniedError):
        return OpenAIAuthenticationError(
            f"OpenAI refused to {action} (HTTP 403): this key's project may lack access. {AUTH_HINT}"
        )
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), str) else None
        message = redact(str(body.get("message") or exc.message), secret)
        return TrainingError(
            f"OpenAI could not {action} (HTTP {exc.status_code}{', ' + code if code else ''}): {message}",
            job_id=job_id, code=code or f"http_{exc.status_code}",
        )
    if isinstance(exc, openai.APIConnectionError):
        where = f" at {url}" if url else ""
        tries = f"{attempts} attempts" if attempts else "several attempts"
        return OpenAIUnreachableError(
            f"cannot reach OpenAI{where} to {action} after {tries} "
            f"({redact(str(exc), secret).rstrip('.')}). Check your network connection, "
            "OPENAI_BASE_URL (or base_url=) and any proxy settings (HTTPS_PROXY).",
            url=url or "", job_id=job_id,
        )
    return TrainingError(f"failed to {action}: {redact(str(exc), secret)}", job_id=job_id)
