"""Smoke test: one real generation per model on the operator's Kie account, charging no wallet.

Inputs are the smallest valid ones the catalog's field specs allow (a short prompt, a tiny generated
picture for image inputs); the task goes straight through the Kie gateway and the shared task limiter,
and is polled until it ends or the time limit passes. Nothing is written to the generations table or the
ledger: the operator pays Kie's credits, no user pays anything.
"""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.catalog.validation import InputValidationError, validate_inputs
from aistudio.kie.client import KieClient
from aistudio.kie.errors import KieError
from aistudio.kie.families import KieGateway
from aistudio.kie.limiter import TaskLimiter
from aistudio.kie.types import TaskState

SMOKE_PROMPT = "A red apple on a wooden table, soft daylight"
LIMITER_KEY = "admin:smoke"


@dataclass(frozen=True)
class SmokeResult:
    model_id: str
    passed: bool
    seconds: float
    detail: str  # the result count, or what went wrong


class SmokeSkipped(Exception):
    """The model needs an input the smoke test can't make up (a video or an audio file)."""


def tiny_png(size: int = 64) -> bytes:
    """A plain orange square: a valid PNG without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes((230, 120, 40)) * size for _ in range(size))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _text_for(field: InputField) -> str:
    text = SMOKE_PROMPT
    if field.max_length is not None:
        text = text[: field.max_length]
    if field.min_length is not None and len(text) < field.min_length:
        text = (text + " ") * (field.min_length // len(text) + 1)
    return text.strip()[: field.max_length] if field.max_length else text.strip()


class SmokeTester:
    def __init__(
        self,
        gateway: KieGateway,
        client: KieClient,
        limiter: TaskLimiter,
        *,
        poll_s: float = 5.0,
        timeout_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.gateway = gateway
        self.client = client
        self.limiter = limiter
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.clock = clock
        self._image_url: str | None = None

    async def minimal_inputs(self, model: ModelSpec) -> dict[str, Any]:
        """Every required field without a default filled with the smallest valid value."""
        raw: dict[str, Any] = {}
        for f in model.inputs:
            if f.default is not None or not f.required:
                continue
            if f.media is not None:
                if f.media != "image":
                    raise SmokeSkipped(f"needs a sample {f.media} file")
                url = await self._sample_image()
                raw[f.name] = [url] * max(1, f.min_items or 1) if f.is_multi else url
            elif f.enum:
                raw[f.name] = f.enum[0]
            elif f.type == "string":
                raw[f.name] = _text_for(f)
            elif f.type in ("integer", "number"):
                raw[f.name] = f.minimum if f.minimum is not None else 1
            elif f.type == "boolean":
                raw[f.name] = False
        return validate_inputs(model, raw)

    async def _sample_image(self) -> str:
        if self._image_url is None:
            uploaded = await self.client.upload_base64(tiny_png(), "aistudio/smoke", "smoke.png", mime_type="image/png")
            self._image_url = uploaded.url
        return self._image_url

    async def run_one(self, model: ModelSpec) -> SmokeResult:
        started = self.clock()

        def result(passed: bool, detail: str) -> SmokeResult:
            return SmokeResult(model.id, passed, round(self.clock() - started, 1), detail)

        try:
            inputs = await self.minimal_inputs(model)
            await self.limiter.acquire(LIMITER_KEY)
            task_id = await self.gateway.submit(model, inputs, None)
            deadline = started + min(self.timeout_s, float(model.timeout_seconds))
            wait = min(0.5, self.poll_s)  # quick models are seen quickly; slow ones polled every poll_s
            while True:
                status = await self.gateway.status(model, task_id)
                if status.state is TaskState.SUCCESS:
                    if not status.result_urls:
                        return result(False, "success without a result")
                    return result(True, f"{len(status.result_urls)} result(s)")
                if status.state is TaskState.FAILED:
                    return result(False, f"failed {status.fail_code or ''} {status.fail_message or ''}".strip())
                if self.clock() >= deadline:
                    return result(False, "timed out")
                await asyncio.sleep(wait)
                wait = min(self.poll_s, wait * 1.5)
        except SmokeSkipped as exc:
            return result(False, f"skipped: {exc}")
        except InputValidationError as exc:
            return result(False, f"no valid minimal inputs: {exc}")
        except KieError as exc:
            return result(False, f"{type(exc).__name__} {exc.code}: {exc.message}"[:300])

    async def run(
        self, models: list[ModelSpec], *, on_result: Callable[[SmokeResult], Awaitable[None]] | None = None
    ) -> list[SmokeResult]:
        """All models at once (the shared limiter paces the submits); results in the order given."""

        async def one(model: ModelSpec) -> SmokeResult:
            outcome = await self.run_one(model)
            if on_result is not None:
                await on_result(outcome)
            return outcome

        return list(await asyncio.gather(*(one(m) for m in models)))
