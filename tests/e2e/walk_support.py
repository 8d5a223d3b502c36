"""Helpers for walking the bot from the outside: buttons of a transcript message, generations run through
the real pipeline (offer → launch → Kie emulator → delivery), the error texts that must never appear, a
local mirror of a chat, and what to answer when a wizard step asks for a text, a number or a file."""

from __future__ import annotations

import asyncio
import re
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import ModelSpec
from aistudio.db.tables import generations
from aistudio.generation.repo import Generation
from aistudio.generation.states import TERMINAL
from aistudio.i18n import translator
from aistudio.telegram.catalog_views import model_key
from aistudio.telegram.middlewares import ThrottlingMiddleware
from aistudio.telegram.wizard_flow import wizard_fields
from tests.e2e.harness import Bot

PAID_IMAGE_MODEL = "grok-imagine/text-to-image"  # 4 credits → 3.80 ₽ at 95 ₽/$ and markup 2; not in the free tier
PAID_IMAGE_PRICE = 380


def lift_flood_limit(bot: Bot) -> None:
    """Let one simulated user press faster than a person can (3/s with a burst of 8 by default).

    Walks press dozens of buttons in a second; flood control has its own test (test_throttling.py).
    """
    for middleware in bot.parts.dispatcher.update.outer_middleware:
        if isinstance(middleware, ThrottlingMiddleware):
            middleware.rate, middleware.burst = 1000.0, 1000


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    """Every inline button of a transcript message, row by row."""
    keyboard = message.get("keyboard") or {}
    return [b for row in keyboard.get("rows", []) for b in row]


def button_texts(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in buttons(message)]


def error_prefixes() -> list[str]:
    """The first words of the global error handler's messages, in every language."""
    t = translator()
    return [t(key, lang, request_id="RQ-").split("\n")[0] for key in ("common.error",) for lang in ("ru", "en")]


def has_error_text(messages: list[dict[str, Any]]) -> bool:
    prefixes = error_prefixes()
    return any(any(p in (m.get("text") or m.get("caption") or "") for p in prefixes) for m in messages)


async def finished(bot: Bot, generation_id: int, *, timeout: float = 15.0) -> Generation:  # noqa: ASYNC109
    """Wait until the pipeline has delivered-and-charged, or failed-and-refunded and told the user."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        gen = await bot.parts.generations.get(generation_id)
        if gen is not None and gen.state in TERMINAL and (gen.state != "failed" or gen.next_check_at is None):
            break
        if loop.time() > deadline:
            raise TimeoutError(f"generation {generation_id} still {gen.state if gen else '?'} after {timeout} s")
        await asyncio.sleep(0.05)
    if gen.state == "failed":  # the notice names the request id; wait until it is in the chat
        await bot.tg.wait_until(
            gen.chat_id or gen.user_id,
            lambda t: any(gen.request_id in (m.get("text") or "") for m in t["messages"]),
            timeout=max(deadline - loop.time(), 1.0),
        )
    return gen


async def newest_generation_id(bot: Bot, user_id: int, *, after: int, timeout: float = 10.0) -> int:  # noqa: ASYNC109
    """The id of the user's first generation newer than `after`, once it exists (launched by a button)."""
    g = generations
    query = sa.select(sa.func.min(g.c.id)).where(g.c.user_id == user_id, g.c.id > after)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with bot.parts.engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        if found is not None:
            return int(found)
        if loop.time() > deadline:
            raise TimeoutError(f"no generation after {after} within {timeout} s")
        await asyncio.sleep(0.05)


async def generation_ids(bot: Bot, user_id: int, *, after: int) -> list[int]:
    """The user's generations newer than `after`, oldest first."""
    g = generations
    query = sa.select(g.c.id).where(g.c.user_id == user_id, g.c.id > after).order_by(g.c.id)
    async with bot.parts.engine.connect() as conn:
        return [int(found) for found in (await conn.execute(query)).scalars()]


async def generate(bot: Bot, user_id: int, prompt: str, *, model_id: str = PAID_IMAGE_MODEL) -> Generation:
    """One generation through the real pipeline, as the wizard's Launch does it; waits for the outcome."""
    offer = await bot.parts.generations.offer(model_id, {"prompt": prompt})
    launched = await bot.parts.generations.launch(user_id, offer, chat_id=user_id)
    return await finished(bot, launched.id)


async def fail_next_task(bot: Bot) -> None:
    """The Kie emulator fails the next task it accepts (the user is refunded and told)."""
    await bot.kie("POST", "/sandbox/faults", {"fail_next": 1})


# --- watching the chat: when the bot is done with an update, and what changed since -------------------


class UpdateTracker:
    """Knows when the dispatcher has finished an update (handler, error handler and all their Bot API calls).

    Waiting for that instead of for "some change" means a press is judged by everything it did, and the
    walk never sleeps. It wraps even aiogram's error middleware, so the error message is part of the update.
    """

    def __init__(self) -> None:
        self.finished: set[int] = set()
        self.changed = asyncio.Condition()

    def install(self, bot: Bot) -> UpdateTracker:
        bot.parts.dispatcher.update.outer_middleware._middlewares.insert(0, self)  # outermost: see the docstring
        return self

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        try:
            return await handler(event, data)
        finally:
            async with self.changed:
                self.finished.add(event.update_id)
                self.changed.notify_all()

    async def done(self, update_id: int, timeout: float) -> bool:  # noqa: ASYNC109
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: update_id in self.finished), timeout)
            except TimeoutError:
                return False
        return True


class ChatMirror:
    """A local copy of one chat, kept up to date by asking only for what changed since the last look."""

    def __init__(self, bot: Bot, user: int) -> None:
        self.tg = bot.tg
        self.user = user
        self.version = 0
        self.messages: dict[int, dict[str, Any]] = {}

    async def sync(self) -> list[dict[str, Any]]:
        """The bot messages sent or edited since the last sync, oldest change first."""
        delta = await self.tg.transcript(self.user, after_version=self.version)
        changed = sorted(delta["messages"], key=lambda m: m["version"])
        for message in changed:
            self.messages[message["message_id"]] = message
        self.version = max(self.version, delta["version"])
        return [m for m in changed if m["direction"] == "out"]

    def shown(self, message_id: int) -> dict[str, Any] | None:
        message = self.messages.get(message_id)
        return message if message is not None and not message["deleted"] else None

    def latest_with(self, data: str) -> dict[str, Any] | None:
        """The newest bot message still showing a button with this callback data."""
        for message in sorted(self.messages.values(), key=lambda m: m["message_id"], reverse=True):
            if message["direction"] == "out" and not message["deleted"] and data in callback_data(message):
                return message
        return None


def callback_data(message: dict[str, Any]) -> list[str]:
    return [b["callback_data"] for b in buttons(message) if "callback_data" in b]


def plain(message: dict[str, Any]) -> str:
    return message.get("text") or message.get("caption") or ""


def shape(message: dict[str, Any]) -> str:
    """What a screen is, whatever the numbers on it say: its first line with every number as `#`, but for
    positions ("step 2 of 3", "page 1/2"), which tell screens apart.

    Balances, prices, times and counters change between visits; the screen stays the same one.
    """
    first = plain(message).strip().split("\n", 1)[0]
    for index, name in enumerate(NAMES):  # "Kling 2.6" and "Kling 3.0" are two models, not one
        first = first.replace(name, chr(0xE000 + index))
    kept = POSITION.split(first)
    blanked = "".join(part if POSITION.fullmatch(part) else NUMBER.sub("#", part) for part in kept)
    for index, name in enumerate(NAMES):
        blanked = blanked.replace(chr(0xE000 + index), name)
    return blanked or f"<{(message.get('media') or {}).get('kind', 'empty')}>"


NAMES: list[str] = []  # names whose numbers are kept (the models'), longest first; see keep_numbers_in


def keep_numbers_in(names: set[str]) -> None:
    """Numbers in these names name things ("Veo 3"): `shape` keeps them."""
    NAMES[:] = sorted(names, key=len, reverse=True)


NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
ID_TOKEN = re.compile(r"^(\d+|[0-9a-f]{8})$")
ScreenKey = tuple[str, tuple[str, ...]]
POSITION = re.compile(r"(\b\d+(?:/| \w{1,3} )\d+\b)")


def kind_of(data: str) -> str:
    """`md:1a2b3c4d:images:0` → `md:#:images:#`: buttons of one kind that differ only by ids."""
    return ":".join("#" if ID_TOKEN.match(token) else token for token in data.split(":"))


def key_shard(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def model_shard(model_id: str, shards: int) -> int:
    """The shard walking this model's card and wizard (the walker knows models by their key only)."""
    return key_shard(model_key(model_id), shards)


def screen_key(message: dict[str, Any]) -> ScreenKey:
    return shape(message), tuple(callback_data(message))


def url_problem(url: str) -> str | None:
    """Why a URL button would not open, or None when it is a proper link."""
    parsed = urlsplit(url)
    if parsed.scheme in ("http", "https") and parsed.netloc and " " not in url:
        return None
    if parsed.scheme == "tg" and parsed.netloc:
        return None
    return f"invalid URL {url!r}"


# --- what a user types or sends when a wizard step asks for it ------------------------------------------


def ask_markers(lang: str) -> dict[str, str]:
    """The start of each kind of wizard question as the chat shows it (the locale's words, not a copy)."""
    t = translator()
    markers = {}
    for kind in ("text", "number", "image", "video", "audio"):
        rendered = t(f"wizard.ask.{kind}", lang, label="\x00", limit=1, low=0, high=1)
        markers[kind] = TAG.sub("", rendered.split("\x00", 1)[0]).strip()
    return markers


TAG = re.compile(r"<[^>]+>")
SAMPLE_FILES = {
    "image": ("photo", "image/png"),
    "video": ("video", "video/mp4"),
    "audio": ("audio", "audio/mpeg"),
}


def wanted_input(text: str, markers: dict[str, str]) -> str | None:
    """The action answering a wizard question (`say:<text>` or `file:<kind>`), or None for buttons."""
    for line in text.split("\n"):
        line = line.strip()
        if markers["text"] and line.startswith(markers["text"]):
            return "say:a red fox on a skateboard, golden hour"
        if markers["number"] and line.startswith(markers["number"]):
            numbers = NUMBER.findall(line.split(":", 1)[-1])
            return f"say:{numbers[0].replace(',', '.')}" if numbers else "say:1"
        for kind in SAMPLE_FILES:
            if markers[kind] and line.startswith(markers[kind]):
                return f"file:{kind}"
    return None


async def perform_input(bot: Bot, user: int, action: str, tmp: Path) -> dict[str, Any]:
    """Type the text or send a small file of the kind asked; returns the emulator's record of the message."""
    if action.startswith("say:"):
        return await bot.tg.send_text(user, action[4:])
    kind = action.split(":", 1)[1]
    telegram_kind, content_type = SAMPLE_FILES[kind]
    path = tmp / f"sample-{kind}"
    if not path.exists():
        path.write_bytes(png_bytes() if kind == "image" else b"\x00\x00\x00\x18ftypmp42" + bytes(2048))
    return await bot.tg.send_file(user, path, kind=telegram_kind, content_type=content_type)


def png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 80, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def input_kinds(model: ModelSpec) -> set[str]:
    """What filling this model's wizard exercises: its family, output, and each kind of step."""
    kinds = {f"family:{model.family.value}", f"output:{model.output}"}
    for f in wizard_fields(model):
        kind = f.media or ("enum" if f.enum else f.type)
        kinds.add(f"{kind}{'[]' if f.is_multi else ''}")
    return kinds


def deep_models(catalog: Catalog) -> list[ModelSpec]:
    """The cheapest shown model for each family, output and kind of wizard step: walked through to a result."""
    chosen: dict[str, ModelSpec] = {}
    for model in sorted(catalog.visible(), key=lambda m: (len(wizard_fields(m)), catalog.default_credits(m), m.id)):
        for kind in sorted(input_kinds(model)):
            chosen.setdefault(kind, model)
    return sorted({m.id: m for m in chosen.values()}.values(), key=lambda m: m.id)
