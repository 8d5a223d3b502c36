"""A breadth-first walk through every inline button reachable from the main menu, as a user would press them.

A screen is reached by a path: the callback data pressed one after another, starting from a fresh `/menu`.
Pressing a button usually edits its message, so its sibling buttons are gone; a node of the walk is
therefore reached by replaying its path (every replayed press is checked too), unless it starts from the
screen the chat shows right now: such nodes are taken first.

Bounds, so the walk stays quick: each distinct callback data is followed once; buttons that differ only by
ids are sampled (the first and last of each kind on a screen, and at most `per_handler` of each kind in the
whole walk: `md:#` model cards, `ls:video` pages, ...); paths are at most `max_depth` presses long; the walk
stops after `max_presses`. Buttons that would start paid work (Launch, Repeat, Retry) are never pressed, and
neither is another language than the walker's.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.harness import Bot
from tests.e2e.walk_support import buttons, has_error_text

PAID_WORK = ("wz:go", "wz:paid", "g:rep", "g:retry")
ID_TOKEN = re.compile(r"^(\d+|[0-9a-f]{8})$")


def kind_of(data: str) -> str:
    """`md:1a2b3c4d:images:0` → `md:#:images:#`: buttons of one kind that differ only by ids."""
    return ":".join("#" if ID_TOKEN.match(token) else token for token in data.split(":"))


def handler_of(data: str) -> str:
    """`md:1a2b3c4d:images:0` → `md:#`, `ls:video:2` → `ls:video`: what a button does, whatever it names."""
    return ":".join(kind_of(data).split(":")[:2])


def skipped(data: str, text: str, lang: str) -> bool:
    if data.startswith(PAID_WORK) or "🚀" in text:
        return True
    return data.startswith("lang:") and data != f"lang:{lang}"


def sample(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The callback buttons of a message, keeping the first and last of each kind."""
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for button in buttons(message):
        if "callback_data" in button:
            by_kind[kind_of(button["callback_data"])].append(button)
    picked = []
    for group in by_kind.values():
        picked.extend(group if len(group) <= 2 else [group[0], group[-1]])
    return picked


@dataclass
class Press:
    path: tuple[str, ...]
    query_id: str
    answered: bool
    changed: bool


@dataclass
class Walk:
    """The outcome: every press made, and what went wrong (empty when the bot behaved)."""

    presses: list[Press] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    per_handler: Counter[str] = field(default_factory=Counter)


def _latest_with(transcript: dict[str, Any], data: str) -> dict[str, Any] | None:
    for message in reversed(transcript["messages"]):
        shown = message["direction"] == "out" and not message["deleted"]
        if shown and any(b.get("callback_data") == data for b in buttons(message)):
            return message
    return None


class Walker:
    def __init__(
        self, bot: Bot, lang: str, *, max_depth: int, max_presses: int, per_handler: int, timeout: float = 10.0
    ) -> None:
        self.bot = bot
        self.per_handler = per_handler
        self.lang = lang
        self.max_depth = max_depth
        self.max_presses = max_presses
        self.timeout = timeout
        self.walk = Walk()
        self.pending: list[tuple[str, ...]] = []  # paths to press, oldest first

    async def press(self, user: int, path: tuple[str, ...]) -> list[dict[str, Any]]:
        """Press the last button of `path` where it is shown now; return the bot messages it sent or edited."""
        data = path[-1]
        tg = self.bot.tg
        transcript = await tg.wait_until(user, lambda t: _latest_with(t, data) is not None, timeout=self.timeout)
        message = _latest_with(transcript, data)
        assert message is not None
        before = transcript["version"]
        result = await tg.press(user, message["message_id"], callback_data=data, wait=self.timeout)

        def changed(t: dict[str, Any]) -> bool:
            return any(m["direction"] == "out" and m["version"] > before for m in t["messages"])

        try:
            after = await tg.wait_until(user, changed, timeout=self.timeout)
        except TimeoutError:
            after = None
        self.walk.presses.append(
            Press(path, result.get("callback_query_id", ""), result["answered"], after is not None)
        )
        if not result["answered"]:
            self.walk.problems.append(f"{' → '.join(path)}: the callback query was not answered")
        if after is None:
            self.walk.problems.append(f"{' → '.join(path)}: no message and no edit")
            return []
        return [m for m in after["messages"] if m["direction"] == "out" and m["version"] > before]

    async def reach(self, user: int, path: tuple[str, ...]) -> list[dict[str, Any]]:
        """A fresh main menu, then the presses of `path`; returns the screens the last press produced."""
        sent = await self.bot.tg.send_text(user, "/menu")
        shown = [await self.bot.tg.wait_for_reply(user, after_message_id=sent["message_id"], timeout=self.timeout)]
        for depth in range(1, len(path) + 1):
            if len(self.walk.presses) >= self.max_presses:
                return []
            shown = await self.press(user, path[:depth])
        return shown

    def enqueue_children(self, path: tuple[str, ...], screens: list[dict[str, Any]]) -> None:
        if len(path) >= self.max_depth:
            return
        for message in screens:
            for button in sample(message):
                data = button["callback_data"]
                if data in self.walk.seen or skipped(data, button["text"], self.lang):
                    continue
                if self.walk.per_handler[handler_of(data)] >= self.per_handler:
                    continue
                self.walk.per_handler[handler_of(data)] += 1
                self.walk.seen.add(data)
                self.pending.append((*path, data))

    def take(self, current: tuple[str, ...] | None) -> tuple[str, ...]:
        """A button of the screen the chat shows now (no replay needed) if one is waiting, else the oldest."""
        for index, path in enumerate(self.pending):
            if current is not None and path[:-1] == current:
                return self.pending.pop(index)
        return self.pending.pop(0)

    async def run(self, user: int) -> Walk:
        self.pending.append(())
        current: tuple[str, ...] | None = None  # the path whose screen the chat shows now
        while self.pending and len(self.walk.presses) < self.max_presses:
            path = self.take(current)
            try:
                if current is not None and path[:-1] == current:
                    screens = await self.press(user, path)
                else:
                    screens = await self.reach(user, path)
                current = path
                self.enqueue_children(path, screens)
            except Exception as exc:  # a broken step is a finding; the walk goes on from a fresh menu
                self.walk.problems.append(f"{' → '.join(path) or '/menu'}: {exc!r}")
                current = None
        if has_error_text(await self.bot.tg.bot_messages(user)):
            self.walk.problems.append("the error message was shown")
        return self.walk


async def walk_every_button(
    bot: Bot,
    lang: str,
    *,
    user: int,
    max_depth: int = 6,
    max_presses: int = 300,
    per_handler: int = 4,
) -> Walk:
    """Walk the bot's buttons breadth-first from the main menu; see the module docstring for the bounds."""
    walker = Walker(bot, lang, max_depth=max_depth, max_presses=max_presses, per_handler=per_handler)
    return await walker.run(user)
