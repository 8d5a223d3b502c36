"""The one progress message per generation: sent on Launch, edited while it runs, removed when it ends.

Who owns the message is settled in the database (`generations.progress_message_id`), because the Launch
handler and the delivery of the result race: a fast model can finish before the handler has stored the
message id. Both sides use compare-and-set on the column:

- the handler stores its message id only while the column is NULL (`attach`);
- the delivery marks the column DONE (0) when the result or failure arrives (`claim_for_removal`) and removes
  the message it finds there. If the handler then finds DONE, it removes its own message.

So the message is removed exactly once, whichever side comes second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.catalog.loader import Catalog
from aistudio.db.sql import utcnow
from aistudio.db.tables import generations
from aistudio.generation.repo import Generation
from aistudio.i18n import Translator

log = logging.getLogger(__name__)

DONE = 0  # progress_message_id once the result or failure arrived
CHAT_ACTIONS = {"image": "upload_photo", "video": "upload_video", "audio": "upload_voice"}


async def attach(engine: AsyncEngine, generation_id: int, message_id: int) -> bool:
    """Record the progress message of a generation; False when its result already arrived (remove it then)."""
    g = generations
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(g)
            .where(g.c.id == generation_id, g.c.progress_message_id.is_(None))
            .values(progress_message_id=message_id)
        )
    return result.rowcount == 1


async def progress_message_id(engine: AsyncEngine, generation_id: int) -> int | None:
    async with engine.connect() as conn:
        value = (
            await conn.execute(sa.select(generations.c.progress_message_id).where(generations.c.id == generation_id))
        ).scalar_one_or_none()
    return None if value is None else int(value)


async def claim_for_removal(engine: AsyncEngine, generation_id: int) -> int | None:
    """Mark the progress as over; returns the message to remove (None: not attached yet, or already over)."""
    g = generations
    async with engine.begin() as conn:
        current = (
            await conn.execute(sa.select(g.c.progress_message_id).where(g.c.id == generation_id).with_for_update())
        ).scalar_one_or_none()
        if current == DONE:
            return None
        await conn.execute(sa.update(g).where(g.c.id == generation_id).values(progress_message_id=DONE))
    return None if current is None else int(current)


def elapsed_text(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def progress_text(t: Translator, lang: str, model_name: str, state: str, seconds: float) -> str:
    key = "results.progress.generating" if state == "generating" else "results.progress.queued"
    return "\n".join(
        (t(key, lang, model=model_name, elapsed=elapsed_text(seconds)), t("results.progress.meanwhile", lang))
    )


@dataclass
class _Watch:
    gen: Generation
    lang: str
    state: str
    started: float = field(default_factory=time.monotonic)
    last_text: str | None = None
    last_edit: float = 0.0
    message_id: int | None = None
    task: asyncio.Task[None] | None = None


class ProgressMessages:
    """Edits progress messages of the generations this process drives: on a state change at once, otherwise
    every `interval` seconds (elapsed time), with a chat action, never with an unchanged text."""

    def __init__(
        self, bot: Bot, engine: AsyncEngine, catalog: Catalog, t: Translator, *, interval: float = 5.0
    ) -> None:
        self.bot = bot
        self.engine = engine
        self.catalog = catalog
        self.t = t
        self.interval = interval
        self._watches: dict[int, _Watch] = {}

    async def state_changed(self, gen: Generation, state: str, lang: str) -> None:
        watch = self._watches.get(gen.id)
        if watch is None:
            seconds = (utcnow() - gen.created_at).total_seconds() if gen.created_at else 0.0
            watch = self._watches[gen.id] = _Watch(gen, lang, state, started=time.monotonic() - seconds)
            watch.task = asyncio.create_task(self._tick(gen.id), name=f"progress-{gen.id}")
        watch.state = state
        await self._chat_action(watch)
        await self._refresh(watch, force=True)

    async def finish(self, gen: Generation) -> None:
        """The result or failure arrived: stop editing and remove the progress message."""
        watch = self._watches.pop(gen.id, None)
        if watch and watch.task and watch.task is not asyncio.current_task():
            watch.task.cancel()
        try:
            message_id = await claim_for_removal(self.engine, gen.id)
            if message_id:
                await remove_message(self.bot, gen.chat_id or gen.user_id, message_id)
        except Exception as exc:  # the result is what matters; a leftover progress message is not
            log.warning("progress message of generation %s not removed: %r", gen.id, exc)

    async def _tick(self, generation_id: int) -> None:
        # The first look comes soon: a state change that came before the Launch handler attached its
        # message could not be shown then.
        pause = min(1.0, self.interval)
        try:
            while generation_id in self._watches:
                await asyncio.sleep(pause)
                pause = self.interval
                watch = self._watches.get(generation_id)
                if watch is None:
                    return
                model = self.catalog.get(watch.gen.model_id)
                if time.monotonic() - watch.started > model.timeout_seconds + 300:
                    self._watches.pop(generation_id, None)  # the driver gave up long ago; stop keeping company
                    return
                await self._chat_action(watch)
                await self._refresh(watch, force=False)
        except asyncio.CancelledError:
            return
        except Exception:  # progress is a courtesy; it must never take anything else down
            log.exception("progress ticker of generation %s stopped", generation_id)
            self._watches.pop(generation_id, None)

    async def _chat_action(self, watch: _Watch) -> None:
        model = self.catalog.get(watch.gen.model_id)
        with contextlib.suppress(TelegramAPIError):
            await self.bot.send_chat_action(
                watch.gen.chat_id or watch.gen.user_id, CHAT_ACTIONS.get(model.output, "typing")
            )

    async def _refresh(self, watch: _Watch, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - watch.last_edit < self.interval * 0.8:
            return
        if watch.message_id is None:
            stored = await progress_message_id(self.engine, watch.gen.id)
            if stored == DONE:  # the result arrived (on another replica): nothing left to show
                self._watches.pop(watch.gen.id, None)
                return
            if stored is None:
                return  # not attached yet: the Launch handler is still sending it
            watch.message_id = stored
        name = self.catalog.get(watch.gen.model_id).name.get(watch.lang)
        text = progress_text(self.t, watch.lang, name, watch.state, now - watch.started)
        if text == watch.last_text:
            return
        try:
            await self.bot.edit_message_text(
                text=text, chat_id=watch.gen.chat_id or watch.gen.user_id, message_id=watch.message_id
            )
        except TelegramBadRequest as exc:
            if "not found" in str(exc):  # removed: the result arrived, here or on another replica
                self._watches.pop(watch.gen.id, None)
            elif "not modified" not in str(exc):  # another replica's handler sent this very text
                log.info("progress edit of generation %s failed: %s", watch.gen.id, exc)
        watch.last_text = text
        watch.last_edit = now


async def remove_message(bot: Bot, chat_id: int, message_id: int) -> None:
    try:
        await bot.delete_message(chat_id, message_id)
    except TelegramBadRequest as exc:
        log.info("progress message %s could not be removed: %s", message_id, exc)
