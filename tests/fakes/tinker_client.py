"""An in-process fake of the Tinker service for unit tests: no threads, no HTTP.

It has the surface ``motools_tinker.service.TinkerService`` describes, and hands out training
clients that behave like the SDK's ``TrainingClient``: every call is applied to the
:class:`~tests.fakes.tinker_world.FakeTinkerWorld` in submission order at once and returns a
future to await later; ``on_optim[n]`` runs a callback when the ``n``-th optimizer step is
submitted. ``hold_optim_after(n)`` leaves every optimizer step after the ``n``-th
unanswered (a hung connection), which is how tests freeze a run mid-flight to "crash" it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.fakes.tinker_world import FakeServiceError, FakeTinkerWorld


def _datum_tuple(datum: Any) -> tuple[list[int], list[int], list[float]]:
    inputs = datum.model_input.to_ints()
    targets = [int(t) for t in datum.loss_fn_inputs["target_tokens"].to_numpy().tolist()]
    weights = [float(w) for w in datum.loss_fn_inputs["weights"].to_numpy().tolist()]
    return inputs, targets, weights


def _settle(future: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


class _Result:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)


class FakeTrainingClient:
    def __init__(self, service: FakeService, model_id: str) -> None:
        self.service = service
        self.world = service.world
        self.model_id = model_id

    def _future(self, op: str, apply: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.service.submitted.append(op)
        loop = asyncio.get_running_loop()
        try:
            n = self.world.count(op)
            value = apply()
        except FakeServiceError as exc:
            loop.call_soon(_settle, future, None, exc)
            return future
        hook = self.service.on_optim.get(n) if op == "optim_step" else None
        if hook is not None:
            hook()
        if (
            op == "optim_step"
            and self.service.hold_after is not None
            and n > self.service.hold_after
        ):
            self.service.held.append(future)  # never answered
            return future
        # The reply arrives on a later turn of the event loop, as over a network.
        loop.call_soon(_settle, future, value, None)
        return future

    def forward_backward(self, data: list[Any], loss_fn: str) -> asyncio.Future[Any]:
        from tinker import types

        assert loss_fn == "cross_entropy"
        datums = [_datum_tuple(d) for d in data]

        def apply() -> Any:
            import numpy as np

            logprobs = self.world.forward_backward(self.model_id, datums)
            return types.ForwardBackwardOutput(
                loss_fn_output_type="ArrayRecord",
                loss_fn_outputs=[
                    {"logprobs": types.TensorData.from_numpy(np.asarray(lp, dtype=np.float32))}
                    for lp in logprobs
                ],
                metrics={},
            )

        return self._future("forward_backward", apply)

    def optim_step(self, params: Any) -> asyncio.Future[Any]:
        self.service.adam_params.append(params)
        return self._future(
            "optim_step", lambda: self.world.optim_step(self.model_id, params.learning_rate)
        )

    def save_state(self, name: str, ttl_seconds: int | None = None) -> asyncio.Future[Any]:
        self.service.ttls.append(ttl_seconds)
        return self._future(
            "save_state", lambda: _Result(path=self.world.save_state(self.model_id, name))
        )

    def save_weights_for_sampler(self, name: str) -> asyncio.Future[Any]:
        return self._future(
            "save_weights_for_sampler",
            lambda: _Result(path=self.world.save_for_sampler(self.model_id, name)),
        )


class FakeService:
    def __init__(self, world: FakeTinkerWorld | None = None) -> None:
        self.world = world or FakeTinkerWorld()
        self.submitted: list[str] = []
        self.adam_params: list[Any] = []
        self.ttls: list[int | None] = []
        self.hold_after: int | None = None
        self.held: list[asyncio.Future[Any]] = []
        self.restores: list[str] = []
        self.closed: list[str] = []
        self.unreachable = False
        #: ``{n: callback}``: called when the ``n``-th optimizer step is submitted.
        self.on_optim: dict[int, Any] = {}

    def hold_optim_after(self, n: int) -> None:
        self.hold_after = n

    async def supported_models(self) -> list[dict[str, Any]]:
        if self.unreachable:
            raise ConnectionError("connection refused")
        self.world.count("get_server_capabilities")
        return list(self.world.supported_models)

    async def create_lora_training_client(self, base_model: str, rank: int, seed: int) -> Any:
        self.world.count("create_model")
        return FakeTrainingClient(self, self.world.create_model(base_model, rank))

    async def create_training_client_from_state_with_optimizer(self, path: str) -> Any:
        self.world.count("load_state")
        self.restores.append(path)
        return FakeTrainingClient(self, self.world.load_state(path, optimizer=True))

    async def close(self, status: str) -> None:
        self.closed.append(status)
