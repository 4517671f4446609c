"""Waiting, once for every backend: capped exponential backoff with jitter, bounded retries
that say what they retry, and a heartbeat that says what a long wait is waiting for.

Every wait longer than a few seconds reports :class:`WaitEvent` s: ``"start"``, a ``"beat"``
every :func:`heartbeat_interval` seconds, each ``"retry"``, and ``"done"`` or
``"interrupted"``. They go to the reporter installed with :func:`reporting` (the command line
prints them), or else to the ``motools.wait`` logger. Backends never print themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

log = logging.getLogger("motools.wait")


@dataclass
class Backoff:
    """Delays that grow from ``initial`` by ``factor`` up to ``maximum``, with +/- ``jitter``.

    ``minimum`` is a floor no delay goes under, whatever the jitter: a poll loop built on this
    never asks more often than every ``minimum`` seconds.
    """

    initial: float = 5.0
    maximum: float = 60.0
    factor: float = 1.5
    jitter: float = 0.2
    minimum: float | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _current: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._current = self.initial

    @classmethod
    def from_policy(cls, policy: Mapping[str, float], **overrides: Any) -> Backoff:
        """A backoff from ``{"initial": s, "maximum": s, "factor": f, ...}``."""
        known = {"initial", "maximum", "factor", "jitter", "minimum"}
        unknown = set(policy) - known
        if unknown:
            raise ValueError(f"unknown backoff settings {sorted(unknown)} (known: {sorted(known)})")
        return cls(**{k: float(v) for k, v in policy.items()}, **overrides)  # type: ignore[arg-type]

    def reset(self) -> None:
        self._current = self.initial

    def next_delay(self) -> float:
        base = self._current
        self._current = min(self._current * self.factor, self.maximum)
        delay = base * (1 + self.rng.uniform(-self.jitter, self.jitter))
        floor = self.initial if self.minimum is None else self.minimum
        return max(min(delay, self.maximum), floor)

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay


# -- what a wait reports --------------------------------------------------------------------


@dataclass(frozen=True)
class WaitEvent:
    """One report of a long wait.

    ``kind``: ``"start"``, ``"beat"`` (still waiting), ``"retry"`` (a call failed and will be
    tried again), ``"done"`` or ``"interrupted"`` (the wait was cancelled: Ctrl-C).
    ``what`` names what is waited for (``"dummy job dummy-1a2b: running"``); ``message`` is
    the line to show a person. ``run`` describes the training run waited for, if any:
    ``{"backend", "job_id", "runs_remotely"}``.
    """

    kind: str
    what: str
    elapsed: float
    message: str
    run: Mapping[str, Any] | None = None
    attempt: int | None = None
    attempts: int | None = None
    delay: float | None = None


WaitReporter = Callable[[WaitEvent], Any]
_reporter: ContextVar[WaitReporter | None] = ContextVar("motools_wait_reporter", default=None)

#: Seconds between heartbeats unless ``$MOTOOLS_HEARTBEAT`` says otherwise.
DEFAULT_HEARTBEAT = 10.0


def heartbeat_interval() -> float:
    """Seconds between two heartbeats of a wait: ``$MOTOOLS_HEARTBEAT`` or 10 (0 = none)."""
    raw = os.environ.get("MOTOOLS_HEARTBEAT", "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT
    try:
        value = float(raw)
    except ValueError:
        from motools.errors import ValidationError

        raise ValidationError(
            f"MOTOOLS_HEARTBEAT={raw!r} is not a number of seconds (0 turns heartbeats off)"
        ) from None
    return max(value, 0.0)


@contextlib.contextmanager
def reporting(reporter: WaitReporter | None) -> Iterator[None]:
    """Send the wait events of this context (and tasks started in it) to ``reporter``."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


def report(event: WaitEvent) -> None:
    """Hand ``event`` to the installed reporter, or log it (``motools.wait``)."""
    reporter = _reporter.get()
    if reporter is None:
        level = {"retry": logging.WARNING, "beat": logging.INFO}.get(event.kind, logging.DEBUG)
        log.log(level, "%s", event.message)
        return
    try:
        reporter(event)
    except Exception as exc:  # a broken display never stops the wait it displays
        log.debug("wait reporter failed: %s", exc)


def format_elapsed(seconds: float) -> str:
    """``7s``, ``2m05s``, ``1h02m``."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@contextlib.asynccontextmanager
async def waiting(
    what: str | Callable[[], str],
    *,
    run: Mapping[str, Any] | None = None,
    every: float | None = None,
    on_event: WaitReporter | None = None,
) -> AsyncIterator[None]:
    """Report ``what`` is waited for while the body runs: a beat every ``every`` seconds.

    ``what`` may be a function, read again at each beat (so a beat shows the latest status).
    Events go to ``on_event``, else to :func:`report`.
    """
    emit = on_event or report
    interval = heartbeat_interval() if every is None else every
    start = time.monotonic()

    def event(kind: str, verb: str) -> WaitEvent:
        text = what() if callable(what) else what
        elapsed = time.monotonic() - start
        return WaitEvent(
            kind, text, elapsed, f"{verb} {text} ({format_elapsed(elapsed)} so far)", run
        )

    async def beats() -> None:
        delay = min(interval, 5.0)
        while True:
            await asyncio.sleep(delay)
            emit(event("beat", "still waiting for"))
            delay = interval

    emit(event("start", "waiting for"))
    ticker = asyncio.create_task(beats()) if interval > 0 else None
    outcome = "interrupted"
    try:
        yield
        outcome = "done"
    except Exception:
        outcome = "done"
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        emit(event(outcome, "stopped waiting for" if outcome == "interrupted" else "done with"))


# -- bounded retries that say so ---------------------------------------------------------------


async def retry_async(
    func: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    attempts: int = 6,
    backoff: Backoff | None = None,
    retry_after: Callable[[BaseException], float | None] | None = None,
    describe: Callable[[BaseException], str] | None = None,
) -> T:
    """Call ``func`` until it succeeds, retrying transient errors with backoff, ``attempts``
    times in all; the last error is raised.

    ``retry_after`` may read a server's ``Retry-After`` from the error; that delay is honoured
    when it is longer than the backoff's own. Each retry is reported (a ``"retry"``
    :class:`WaitEvent`) as ``"<describe(exc)> (attempt 2/6), retrying in 4 s"``;
    ``describe`` must never put a secret in its text.
    """
    backoff = backoff or Backoff(initial=1.0, maximum=30.0, minimum=0.0)
    start = time.monotonic()
    for attempt in range(1, attempts + 1):
        try:
            return await func()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            delay = backoff.next_delay()
            hinted = retry_after(exc) if retry_after else None
            if hinted is not None:
                delay = max(delay, hinted)
            what = describe(exc) if describe else f"{type(exc).__name__}"
            report(
                WaitEvent(
                    "retry",
                    what,
                    time.monotonic() - start,
                    f"{what} (attempt {attempt}/{attempts}), retrying in {delay:.0f} s",
                    attempt=attempt,
                    attempts=attempts,
                    delay=delay,
                )
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to show in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{host}{path}" if parts.scheme else url.split("?")[0]


async def ensure_reachable(
    url: str,
    *,
    service: str,
    hint: str,
    attempts: int = 6,
    backoff: Backoff | None = None,
    connect_timeout: float = 10.0,
) -> None:
    """Open (and close) a TCP connection to ``url``'s host, retrying a bounded, reported
    number of times; raise :class:`~motools.errors.ServiceUnreachableError` naming the host
    and ``hint`` (what to check) when it never answers.

    For SDKs that would otherwise retry silently for minutes before their first request.
    """
    from motools.errors import ServiceUnreachableError

    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise ServiceUnreachableError(f"{service} URL {public_url(url)!r} names no host. {hint}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    shown = public_url(url)

    async def connect() -> None:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout=connect_timeout
        )
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    def reason(exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {connect_timeout:g} s"
        return getattr(exc, "strerror", None) or type(exc).__name__

    try:
        await retry_async(
            connect,
            is_transient=lambda exc: isinstance(exc, (OSError, TimeoutError)),
            attempts=attempts,
            backoff=backoff or Backoff(initial=1.0, maximum=30.0, factor=2.0, minimum=0.0),
            describe=lambda exc: f"cannot reach {service} at {shown}: {reason(exc)}",
        )
    except (TimeoutError, OSError) as exc:
        raise ServiceUnreachableError(
            f"cannot reach {service} at {shown} after {attempts} attempts ({reason(exc)}). {hint}",
            service=service,
            url=shown,
        ) from exc
