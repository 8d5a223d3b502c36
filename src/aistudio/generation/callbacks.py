"""Kie's callbacks: authenticate, match to a generation, confirm with Kie, then drive it on.

A callback body is never trusted on its own: it only says "look now". The state is always read back with
`recordInfo` (or the family's status call) before anything changes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aistudio.generation.context import Pipeline
from aistudio.generation.driver import Driver
from aistudio.generation.repo import Generation
from aistudio.generation.states import State
from aistudio.kie.callbacks import check_callback_token, parse_callback, verify_callback
from aistudio.kie.errors import KieInvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallbackAnswer:
    status: int  # the HTTP status to answer Kie with
    reason: str
    generation_id: int | None = None


async def accept_callback(
    pipeline: Pipeline, driver: Driver, generation_id: int, token: str, headers: Mapping[str, str], body: Any
) -> CallbackAnswer:
    """Check and match a callback; on success the caller drives the generation (answered before that)."""
    if not check_callback_token(pipeline.settings.callback_secret, generation_id, token):
        return CallbackAnswer(403, "bad callback token")
    if not isinstance(body, Mapping):
        return CallbackAnswer(400, "body is not a JSON object")
    try:
        task_id, _claimed_status = parse_callback(body)
    except KieInvalidInput:
        return CallbackAnswer(400, "no task id")
    key = pipeline.settings.kie_hmac_key
    if key and not verify_callback(key, headers, task_id, now=int(time.time())):
        return CallbackAnswer(401, "bad signature")
    gen = await driver.load(generation_id)
    if gen is None:
        return CallbackAnswer(404, "unknown generation")
    if gen.kie_task_id is None:
        if gen.state is not State.HELD or gen.submit_attempts == 0:
            return CallbackAnswer(409, "no task was submitted for this generation")
        async with pipeline.db.single() as tx:
            adopted = await pipeline.repo.adopt_task(tx, gen.id, task_id, pipeline.now())
        if adopted:
            log.info("generation %s: adopted task %s from its callback", gen.request_id, task_id)
    elif gen.kie_task_id != task_id:
        return CallbackAnswer(409, "task id does not match this generation")
    return CallbackAnswer(200, "ok", gen.id)


async def confirm_and_apply(driver: Driver, gen: Generation) -> None:
    """Read the task's state from Kie (never from the callback body) and act on it."""
    if gen.kie_task_id is None or gen.state not in (State.SUBMITTED, State.FAILED):
        return
    model = driver.p.catalog.get(gen.model_id)
    status = await driver.check_status(gen, model)
    moved = await driver.apply_status(gen, model, status)
    if moved is not None:
        await driver.run_from(moved)


async def confirm_guarded(driver: Driver, gen: Generation) -> None:
    try:
        await confirm_and_apply(driver, gen)
    except Exception:
        log.exception("generation %s: confirming a callback failed; the next poll will catch up", gen.request_id)
