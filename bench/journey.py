"""The user journey in the sandbox: Launch press → progress message latency, and the steps of a whole journey.

Usage: python bench/journey.py [--n 20] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Runs the real bot against both emulators over HTTP (the end-to-end harness, on a scratch SQLite database, or
a scratch PostgreSQL database created next to the given URL). N users each walk to the nano-banana summary;
then, one after another, each presses 🚀 Launch and the time from the press to the Bot API call that sent the
progress message is measured (the emulator logs each call's time; both run in this process, one clock). The
journey count is the presses and messages from /menu to the delivered result. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the e2e harness lives in tests/

from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import (
    find_button,
    open_menu,
    open_wizard,
    relax_throttling,
    say,
    tap,
    version,
    wait_screen,
)

from aistudio.db.migrate import upgrade_to_head

PROGRESS = "The result will arrive here"


@contextlib.asynccontextmanager
async def scratch_database(pg_url: str | None, tmp: Path) -> AsyncIterator[str]:
    if not pg_url:
        path = tmp / "bench.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
        return
    import asyncpg

    admin = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"aistudio_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        yield url
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def journey_steps(bot: Bot, user: int) -> int:
    """Presses and messages from /menu to the nano-banana result."""
    steps = 1
    menu = await open_menu(bot, user)
    images = await tap(bot, user, menu, "🖼 Pictures & banners", "Pick a model")
    card = await tap(bot, user, images, "🔥 Nano Banana ·", "Needs:")
    await tap(bot, user, card, "▶️ Start", "step 1 of 1")
    summary = await say(bot, user, "a cat in space", "Check and launch")
    steps += 4
    await tap(bot, user, summary, "🚀 Launch for", "Done: Nano Banana", within=15)
    return steps + 1


async def launch_latency(bot: Bot, user: int) -> float:
    """Seconds from the 🚀 Launch press to the sendMessage of the progress message."""
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, user, f"a lighthouse, take {user}", "Check and launch")
    button = find_button(summary, "🚀 Launch for")
    before = await version(bot, user)
    seq = max((c["seq"] for c in await bot.tg.calls()), default=0)
    pressed_at = time.time()
    await bot.tg.press(user, summary["message_id"], callback_data=button["callback_data"])
    await wait_screen(bot, user, before, PROGRESS, within=10, deleted_too=True)
    sent = [
        c
        for c in await bot.tg.calls("sendMessage", since=seq)
        if c["ok"] and str(c["params"].get("chat_id")) == str(user) and PROGRESS in str(c["params"].get("text"))
    ]
    await wait_screen(bot, user, before, "Done: Nano Banana", within=15)
    return sent[0]["at"] - pressed_at


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def main(n: int, pg_url: str | None) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with scratch_database(pg_url, tmp) as url, running_bot(url, tmp) as bot:
            relax_throttling(bot)  # the bench taps faster than people do
            steps_user = await bot.user(1, lang="en", balance_rub=100)
            steps = await journey_steps(bot, steps_user)
            latencies = []
            for index in range(n):
                user = await bot.user(1000 + index, lang="en", balance_rub=100)
                latencies.append(await launch_latency(bot, user))
            books = await bot.books_balanced()
    ms = [value * 1000 for value in latencies]
    return {
        "database": "postgresql" if pg_url else "sqlite",
        "launches": n,
        "launch_to_progress_p50_ms": round(statistics.median(ms), 1),
        "launch_to_progress_p99_ms": round(percentile(ms, 0.99), 1),
        "launch_to_progress_max_ms": round(max(ms), 1),
        "journey_presses_and_messages": steps,
        "books_balanced": books,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20, help="launches to time")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL to create a scratch database next to")
    args = parser.parse_args()
    figures = asyncio.run(main(args.n, args.pg))
    print(
        f"Launch → progress message over {figures['launches']} launches ({figures['database']}): "
        f"p50 {figures['launch_to_progress_p50_ms']} ms, p99 {figures['launch_to_progress_p99_ms']} ms; "
        f"nano-banana journey: {figures['journey_presses_and_messages']} presses and messages"
    )
    print(json.dumps(figures))
