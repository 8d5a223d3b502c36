"""The generation service: the one entry point the bot, the web server and the tests use."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aistudio.generation.callbacks import CallbackAnswer, accept_callback
from aistudio.generation.context import Pipeline
from aistudio.generation.driver import Driver
from aistudio.generation.launch import Offer, launch, price_offer
from aistudio.generation.repo import Generation
from aistudio.generation.worker import GenerationWorker
from aistudio.pricing.fx import FxRate


class GenerationService:
    """Offer → launch → (worker) → delivered or refunded."""

    def __init__(self, pipeline: Pipeline, fx: Callable[[], Awaitable[FxRate]], *, worker_batch: int = 200) -> None:
        self.pipeline = pipeline
        self._fx = fx
        self.driver = Driver(pipeline)
        self.worker = GenerationWorker(pipeline, batch=worker_batch)

    async def offer(self, model_id: str, raw_inputs: dict[str, Any]) -> Offer:
        """The exact price for these inputs (raises `InputValidationError`, `LaunchRefused`)."""
        return price_offer(self.pipeline, model_id, raw_inputs, await self._fx())

    async def launch(
        self,
        user_id: int,
        offer: Offer,
        *,
        chat_id: int | None = None,
        source_generation_id: int | None = None,
        pay_if_not_free: bool = False,
        request_id: str | None = None,
    ) -> Generation:
        """Hold the money, write the row, and start driving it in the background."""
        gen = await launch(
            self.pipeline,
            user_id=user_id,
            offer=offer,
            chat_id=chat_id,
            source_generation_id=source_generation_id,
            pay_if_not_free=pay_if_not_free,
            request_id=request_id,
        )
        self.worker.drive_soon(gen.id)
        return gen

    async def on_callback(
        self, generation_id: int, token: str, headers: Mapping[str, str], body: Any
    ) -> CallbackAnswer:
        """Authenticate and match a Kie callback; the confirmation runs after the answer is sent."""
        answer = await accept_callback(self.pipeline, self.driver, generation_id, token, headers, body)
        if answer.status == 200 and answer.generation_id is not None:
            self.worker.confirm_soon(answer.generation_id)
        return answer

    async def get(self, generation_id: int) -> Generation | None:
        return await self.driver.load(generation_id)

    async def run(self, stop: asyncio.Event) -> None:
        """The resumer/scheduler loop; run one per process."""
        await self.worker.run(stop)

    async def drain(self) -> None:
        await self.worker.drain()
