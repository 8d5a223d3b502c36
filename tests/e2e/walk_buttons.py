"""An exhaustive walk through every inline button reachable from the main menu, as a user would press them.

A node of the walk is a button on a screen: (the screen's shape, the button's callback data). The shape is the
first line of the message with numbers blanked (walk_support.shape), so a balance that changed does not make
a new screen, while each model's card, wizard step and summary is a screen of its own. Every node is pressed
once; so is every answer a wizard step asks for (a text, a number, a file), but only for the `deep` models:
the others are walked up to their first screen that needs typing. Buttons that open a URL are checked for a
valid link instead, pay buttons are not paid, other languages are not switched to.

Getting back to a screen is the expensive part, so the walker prefers, in this order: a button of the screen
shown now; a route of buttons already seen leading from here to a screen with buttons left (learned edges,
checked at every step); a button on an older message still showing its screen (menus, lists, results do not
go stale); a fresh `/menu` and the same; replaying the presses that first led to the screen.

Paid work is done once per screen: a press that started a generation waits for its result (whose buttons are
walked too), and buttons of that kind on that screen (🔁 Repeat on the next result) are not pressed again.
Generations cannot be replayed, so a screen only reachable through one is walked while its message is shown.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aistudio.telegram.handlers import results as results_handlers
from tests.e2e.harness import Bot
from tests.e2e.walk_support import (
    ChatMirror,
    ScreenKey,
    UpdateTracker,
    ask_markers,
    buttons,
    callback_data,
    finished,
    generation_ids,
    has_error_text,
    key_shard,
    kind_of,
    perform_input,
    screen_key,
    url_problem,
    wanted_input,
)

MODEL_KEY = re.compile(r"(?:^|:)([0-9a-f]{8})(?::|$)")
ROUTE_DEPTH = 4


@dataclass
class Node:
    action: str  # callback data, or `say:<text>` / `file:<kind>` answering a wizard step
    screen: ScreenKey
    message_id: int
    path: tuple[str, ...]  # the actions from a fresh /menu that first led to the screen
    done: bool = False


def offered(key: ScreenKey, node: Node) -> bool:
    """A screen of the node's shape showing its button (history has grown, a free use is spent: still it)."""
    return key[0] == node.screen[0] and (node.action in key[1] or node.action.startswith(("say:", "file:")))


def offers(message: dict[str, Any], node: Node) -> bool:
    return offered(screen_key(message), node)


@dataclass
class Press:
    action: str
    screen: str
    query_id: str
    answered: bool
    changed: bool


@dataclass
class Walk:
    """The outcome: every action made, and what went wrong (empty when the bot behaved)."""

    presses: list[Press] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    pressed: set[str] = field(default_factory=set)  # distinct callback data pressed
    nodes: int = 0  # distinct (screen, button) pressed
    urls: set[str] = field(default_factory=set)
    excluded: Counter[str] = field(default_factory=Counter)
    unreached: list[tuple[str, str]] = field(default_factory=list)  # (screen, button) no replay showed again
    overhead: Counter[str] = field(default_factory=Counter)  # actions that only navigate, by how
    launched: set[str] = field(default_factory=set)  # model ids of the generations the walk started
    seconds: float = 0.0


class Walker:
    def __init__(
        self, bot: Bot, lang: str, user: int, *, tmp: Path, deep: set[str], shard: tuple[int, int] = (0, 1),
        max_actions: int = 20000, timeout: float = 15.0,
    ) -> None:  # fmt: skip
        self.bot, self.lang, self.user, self.tmp = bot, lang, user, tmp
        self.deep_names = deep
        self.shard, self.shards = shard
        self.max_actions = max_actions
        self.timeout = timeout
        self.walk = Walk()
        self.mirror = ChatMirror(bot, user)
        self.tracker = UpdateTracker().install(bot)
        self.markers = ask_markers(lang)
        self.known: set[tuple[str, str]] = set()  # (shape, action) already queued
        self.queue: deque[Node] = deque()  # every node, oldest first
        self.pending: dict[str, list[Node]] = defaultdict(list)  # by screen shape
        self.edges: dict[ScreenKey, dict[str, ScreenKey]] = defaultdict(dict)
        self.paths: dict[ScreenKey, tuple[str, ...]] = {}
        self.paid: set[tuple[str, str]] = set()  # (shape, action) that started a generation
        self.paid_kinds: set[tuple[str, str]] = set()
        self.upward: Counter[str] = Counter()  # kinds of button seen leading to a shallower screen
        self.results: set[tuple[str, tuple[str, ...]]] = set()  # delivered results walked, ids blanked
        self.current: dict[str, Any] | None = None  # the screen the chat shows now
        self.fresh = False  # the current screen is a /menu sent for this lookup
        self.last_generation = 0

    # --- the loop ---------------------------------------------------------------------------------------

    async def run(self) -> Walk:
        started = time.monotonic()
        await self.mirror.sync()
        self.last_generation = await self.newest_generation()
        await self.fresh_menu()
        while len(self.walk.presses) < self.max_actions:
            try:
                if not await self.step():
                    break
            except Exception as exc:  # a broken step is a finding; the walk goes on from a fresh menu
                self.walk.problems.append(f"{exc!r}")
                self.current = None
        if len(self.walk.presses) >= self.max_actions:
            self.walk.problems.append(f"stopped after {self.max_actions} actions with nodes left")
        if has_error_text([m for m in self.mirror.messages.values() if m["direction"] == "out"]):
            self.walk.problems.append("the error message was shown")
        self.walk.seconds = time.monotonic() - started
        return self.walk

    async def step(self) -> bool:
        """Press one node (navigating to it first); False when none is left."""
        node = self.on_current()
        if node is not None:
            await self.press(node, self.current)
            return True
        route = self.route()
        if route is not None:
            await self.follow(route)
            return True
        for node in self.live_nodes():
            message = self.mirror.shown(node.message_id)
            if message is not None and offers(message, node):
                await self.press(node, message)
                return True
        if not self.fresh:
            await self.fresh_menu()
            return True
        node = self.oldest()
        if node is None:
            return False
        await self.replay(node)
        return True

    def on_current(self) -> Node | None:
        if self.current is None:
            return None
        return self.waiting(screen_key(self.current))

    def waiting(self, key: ScreenKey) -> Node | None:
        """A node not pressed yet that a screen like `key` offers; buttons seen leading back up go last."""
        nodes = [n for n in self.pending.get(key[0], []) if not n.done and offered(key, n)]
        return min(nodes, key=lambda n: self.upward[kind_of(n.action)] > 0, default=None)

    def oldest(self) -> Node | None:
        while self.queue and self.queue[0].done:
            self.queue.popleft()
        return self.queue[0] if self.queue else None

    def live_nodes(self) -> list[Node]:
        return [n for n in self.queue if not n.done and n.message_id in self.mirror.messages]

    def route(self) -> list[str] | None:
        """Buttons leading from the current screen to one with nodes left, by edges seen before."""
        if self.current is None:
            return None
        start = screen_key(self.current)
        frontier: deque[tuple[ScreenKey, list[str]]] = deque([(start, [])])
        seen = {start}
        while frontier:
            key, route = frontier.popleft()
            if route and self.waiting(key) is not None:
                return route
            if len(route) >= ROUTE_DEPTH:
                continue
            for data, target in self.edges.get(key, {}).items():
                if target not in seen and (data in key[1] or data.startswith(("say:", "file:"))):
                    seen.add(target)
                    frontier.append((target, [*route, data]))
        return None

    async def follow(self, route: list[str]) -> None:
        """Press the route while each screen is the one expected; a surprise just ends it (edges relearnt)."""
        for data in route:
            typed = data.startswith(("say:", "file:"))
            if self.current is None or not (typed or data in callback_data(self.current)):
                return
            expected = self.edges[screen_key(self.current)].get(data)
            self.walk.overhead["route"] += 1
            await self.act(data, self.current)
            if self.current is None or screen_key(self.current) != expected:
                return

    async def replay(self, node: Node) -> None:
        node.done = True
        if any(step in {a for _, a in self.paid} for step in node.path):
            self.walk.excluded["only reachable again through a new generation"] += 1
            return
        await self.fresh_menu()
        for action in node.path:
            target = self.current if self.current and action in callback_data(self.current) else None
            target = target or (self.mirror.latest_with(action) if not action.startswith(("say:", "file:")) else None)
            if target is None and not action.startswith(("say:", "file:")):
                break
            self.walk.overhead["replay"] += 1
            await self.act(action, target)
        message = self.current if self.current and offers(self.current, node) else None
        if message is None:
            self.walk.excluded["not shown again by replaying its path"] += 1
            self.walk.unreached.append((node.screen[0], node.action))
            return
        node.done = False
        await self.press(node, message)

    # --- pressing and learning --------------------------------------------------------------------------

    async def fresh_menu(self) -> None:
        self.walk.overhead["/menu"] += 1
        sent = await self.bot.tg.send_text(self.user, "/menu")
        await self.tracker.done(sent["update_id"], self.timeout)
        changed = await self.mirror.sync()
        self.current = self.newest_screen(changed)
        if self.current is None:
            self.walk.problems.append("/menu showed no menu")
            return
        self.paths.setdefault(screen_key(self.current), ())
        self.discover(changed, ())
        self.fresh = True

    async def press(self, node: Node, message: dict[str, Any] | None) -> None:
        node.done = True
        self.walk.nodes += 1
        await self.act(node.action, message)

    async def act(self, action: str, message: dict[str, Any] | None) -> None:
        """One press or one answer; checks it, waits for any generation it started, learns where it led."""
        self.fresh = False
        origin = screen_key(message) if message is not None else None
        label = f"{origin[0] if origin else '?'!r} → {action}"
        if action.startswith(("say:", "file:")):
            sent = await perform_input(self.bot, self.user, action, self.tmp)
            query_id, answered = "", True
        else:
            assert message is not None
            # A person's presses are seconds apart; the walk's are milliseconds. A second Repeat of one result
            # within the double-tap window is (rightly) only a toast, so the walk starts each press outside it.
            results_handlers.forget_recent_relaunches()
            sent = await self.bot.tg.press(self.user, message["message_id"], callback_data=action, wait=self.timeout)
            query_id, answered = sent.get("callback_query_id", ""), bool(sent.get("answered"))
            self.walk.pressed.add(action)
        if not await self.tracker.done(sent["update_id"], self.timeout):
            self.walk.problems.append(f"{label}: the bot did not finish the update within {self.timeout} s")
        changed = await self.mirror.sync()
        started = await self.new_generations()
        delivered: list[dict[str, Any]] = []
        for generation_id in started:
            gen = await finished(self.bot, generation_id, timeout=30)
            self.walk.launched.add(gen.model_id)
            delivered += await self.settle()
        changed += delivered
        if started and origin is not None:
            self.paid.add((origin[0], action))
            self.paid_kinds.add((origin[0], kind_of(action)))
        self.walk.presses.append(Press(action, origin[0] if origin else "", query_id, answered, bool(changed)))
        if not answered:
            self.walk.problems.append(f"{label}: the callback query was not answered")
        if not changed:
            self.walk.problems.append(f"{label}: no message and no edit")
            if origin is not None:
                self.edges[origin].pop(action, None)  # a route through here would stall again
        if has_error_text(changed):
            self.walk.problems.append(f"{label}: the error message was shown")
        self.current = self.newest_screen(changed)
        path = (*self.paths.get(origin, ()), action) if origin is not None else (action,)
        if self.current is not None:
            key = screen_key(self.current)
            if origin is not None:
                self.edges[origin][action] = key
            self.paths.setdefault(key, path)
            if origin is not None and len(self.paths[key]) < len(self.paths.get(origin, ())):
                self.upward[kind_of(action)] += 1
        self.discover(changed, path, {m["message_id"] for m in delivered})

    async def settle(self) -> list[dict[str, Any]]:
        """Messages from the delivery of a finished generation: until a look finds nothing new."""
        changed: list[dict[str, Any]] = []
        while True:
            delta = await self.mirror.sync()
            if not delta:
                return changed
            changed += delta
            await asyncio.sleep(0.05)

    def newest_screen(self, changed: list[dict[str, Any]]) -> dict[str, Any] | None:
        for message in sorted(changed, key=lambda m: m["version"], reverse=True):
            current = self.mirror.shown(message["message_id"])
            if current is not None and current["direction"] == "out" and buttons(current):
                return current
        return None

    def discover(self, changed: list[dict[str, Any]], path: tuple[str, ...], delivered: set[int] = frozenset()) -> None:
        """Queue the buttons of every changed screen, and the answer the current wizard step asks for.

        A delivered result that looks like one walked before but for the generation's id (the next result
        of a model) is not walked again: its buttons do what the first one's did, for another id.
        """
        for message in {m["message_id"]: m for m in changed}.values():
            shown = self.mirror.shown(message["message_id"])
            if shown is None:
                continue
            key = screen_key(shown)
            if message["message_id"] in delivered:
                kinds = (key[0], tuple(kind_of(d) for d in key[1]))
                if kinds in self.results:
                    self.walk.excluded["buttons of a result like one walked, for a newer generation"] += len(key[1])
                    continue
                self.results.add(kinds)
            for button in buttons(shown):
                self.consider(button, key, shown["message_id"], self.paths.get(key, path))
        if self.current is not None:
            key = screen_key(self.current)
            answer = wanted_input(self.current.get("text") or "", self.markers)
            if answer and key[0].split(" · ")[0] in self.deep_names:
                self.enqueue(answer, key, self.current["message_id"], self.paths.get(key, path))

    def consider(self, button: dict[str, Any], key: ScreenKey, message_id: int, path: tuple[str, ...]) -> None:
        if "url" in button:
            if (problem := url_problem(button["url"])) is not None:
                self.walk.problems.append(f"{key[0]!r} → {button['text']!r}: {problem}")
            self.walk.urls.add(button["url"])
            return
        data = button.get("callback_data")
        if data is None:
            self.walk.excluded["pay button (invoices are not paid)" if button.get("pay") else "other button"] += 1
            return
        if data.startswith("lang:") and data != f"lang:{self.lang}":
            self.walk.excluded["switching to the other language (walked on its own)"] += 1
            return
        if (key[0], kind_of(data)) in self.paid_kinds and (key[0], data) not in self.known:
            self.walk.excluded["paid work of a kind already done on this screen"] += 1
            return
        if not self.in_shard(data):
            return
        self.enqueue(data, key, message_id, path)

    def enqueue(self, action: str, key: ScreenKey, message_id: int, path: tuple[str, ...]) -> None:
        if (key[0], action) in self.known:
            return
        self.known.add((key[0], action))
        node = Node(action, key, message_id, path)
        self.queue.append(node)
        self.pending[key[0]].append(node)

    def in_shard(self, data: str) -> bool:
        """Buttons naming a model belong to one shard (by its key); the rest are walked by every shard."""
        found = MODEL_KEY.search(data)
        return found is None or key_shard(found.group(1), self.shards) == self.shard

    # --- generations ---------------------------------------------------------------------------------------

    async def newest_generation(self) -> int:
        return max(await generation_ids(self.bot, self.user, after=0), default=0)

    async def new_generations(self) -> list[int]:
        found = await generation_ids(self.bot, self.user, after=self.last_generation)
        self.last_generation = max(found, default=self.last_generation)
        return found


async def walk_every_button(
    bot: Bot, lang: str, *, user: int, tmp: Path, deep: set[str], shard: tuple[int, int] = (0, 1)
) -> Walk:
    """Walk every button reachable from the main menu; see the module docstring for what that means."""
    return await Walker(bot, lang, user, tmp=tmp, deep=deep, shard=shard).run()
