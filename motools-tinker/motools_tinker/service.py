"""The narrow slice of the Tinker service the training loop uses, and its SDK implementation.

The loop talks to a :class:`TinkerService`; training clients are used exactly as the SDK's
``TrainingClient`` (``forward_backward``/``optim_step``/``save_state``/
``save_weights_for_sampler`` return futures at once, which are awaited later). Tests inject
an in-process fake with the same surface; production uses :class:`SDKService`, which wraps
``tinker.ServiceClient`` and moves its blocking set-up calls off the event loop.
:class:`ServiceSettings` says which of the two a backend and its runs use.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TinkerService(Protocol):
    async def supported_models(self) -> list[dict[str, Any]]:
        """``[{"model_name", "trainable", "max_context_length"}, ...]``."""
        ...

    async def create_lora_training_client(self, base_model: str, rank: int, seed: int) -> Any: ...

    async def create_training_client_from_state_with_optimizer(self, path: str) -> Any: ...

    async def close(self, status: str) -> None: ...


UNREACHABLE_HINT = (
    "Check your network connection, TINKER_BASE_URL (or base_url=) and any proxy settings; "
    "the run can be resumed once Tinker is reachable."
)


def resolve_base_url(base_url: str | None) -> str:
    """Where the SDK sends requests: ``base_url``, else ``$TINKER_BASE_URL``, else Tinker's."""
    if base_url:
        return base_url.rstrip("/")
    from tinker.lib.base_url import resolve_base_url as sdk_resolve

    return sdk_resolve(None)


class SDKService:
    """:class:`TinkerService` over the real ``tinker`` SDK (``TINKER_API_KEY``/``TINKER_BASE_URL``
    unless given). The key is kept only in memory and never shown in a repr.

    The SDK retries a request it cannot send for minutes, silently. So before its first
    request this checks that Tinker's host answers at all, ``connect_attempts`` times with
    ``connect_backoff`` between tries, each try reported, and raises
    :class:`~motools.errors.ServiceUnreachableError` naming the host when it never does.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        connect_attempts: int = 5,
        connect_backoff: Mapping[str, float] | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._client: Any = None
        self._lock = asyncio.Lock()
        self._connect_attempts = connect_attempts
        self._connect_backoff = dict(connect_backoff or {})
        self._reachable = False

    def __repr__(self) -> str:
        return f"SDKService(base_url={self._base_url!r})"

    async def _check_reachable(self) -> None:
        if self._reachable:
            return
        from motools.polling import Backoff, ensure_reachable

        backoff = Backoff.from_policy(self._connect_backoff, minimum=0.0)
        await ensure_reachable(
            resolve_base_url(self._base_url),
            service="Tinker",
            hint=UNREACHABLE_HINT,
            attempts=self._connect_attempts,
            backoff=backoff,
        )
        self._reachable = True

    async def _service(self) -> Any:
        await self._check_reachable()
        async with self._lock:
            if self._client is None:
                import tinker

                self._client = await asyncio.to_thread(
                    tinker.ServiceClient, api_key=self._api_key, base_url=self._base_url
                )
            return self._client

    async def supported_models(self) -> list[dict[str, Any]]:
        import tinker

        await self._check_reachable()

        def fetch() -> Any:
            # RestClient shares one connection pool per (base URL, key) for the whole process:
            # name the key so that pool is never one opened with another key.
            key = self._api_key or os.environ.get("TINKER_API_KEY")
            rest = tinker.RestClient(api_key=key, base_url=self._base_url)
            return rest.get_server_capabilities().result()

        caps = await asyncio.to_thread(fetch)
        return [m.model_dump() for m in caps.supported_models]

    async def create_lora_training_client(self, base_model: str, rank: int, seed: int) -> Any:
        service = await self._service()
        future = await asyncio.to_thread(
            service.create_lora_training_client, base_model=base_model, rank=rank, seed=seed
        )
        return await future

    async def create_training_client_from_state_with_optimizer(self, path: str) -> Any:
        service = await self._service()
        future = await asyncio.to_thread(
            service.create_training_client_from_state_with_optimizer, path
        )
        return await future

    async def create_sampling_client(
        self, *, model_path: str | None = None, base_model: str | None = None
    ) -> Any:
        service = await self._service()
        future = await asyncio.to_thread(
            service.create_sampling_client, model_path=model_path, base_model=base_model
        )
        return await future

    async def close(self, status: str) -> None:
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(lambda: client.close(status).result())


@dataclass(frozen=True)
class ServiceSettings:
    """How to reach Tinker: an injected service (tests pass a fake), else the SDK with
    ``api_key`` / ``base_url`` (``TINKER_API_KEY`` / ``TINKER_BASE_URL`` when not given).
    The key is never shown in a repr."""

    service: TinkerService | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    #: How often, and how patiently, to try reaching Tinker's host before the first request.
    connect_attempts: int = 5
    connect_backoff: Mapping[str, float] | None = None

    def connect(self) -> tuple[TinkerService, bool]:
        """A :class:`TinkerService`, and whether the caller owns it (and must ``close`` it):
        an injected service is shared and never closed; an SDK session is new each time."""
        if self.service is not None:
            return self.service, False
        service = SDKService(
            api_key=self.api_key,
            base_url=self.base_url,
            connect_attempts=self.connect_attempts,
            connect_backoff=self.connect_backoff,
        )
        return service, True
