"""Telegram emulator latency: sendMessage (and a few other calls) through a real aiogram Bot over HTTP.

Usage: python bench/emulator.py [--calls 2000] [--warmup 200] [--concurrency 1]
The emulator runs in this process on 127.0.0.1 (its own port); the Bot talks to it through aiogram's
AiohttpSession exactly as it would talk to api.telegram.org. The last line printed is one JSON object.
Not a test: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web

from aistudio.sandbox.telegram import DEFAULT_TOKEN, create_app, emulator_of
from aistudio.sandbox.telegram.state import SandboxUser

USER_ID = 1001


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p90_ms": round(_percentile(samples, 0.90), 3),
        "p99_ms": round(_percentile(samples, 0.99), 3),
        "max_ms": round(max(samples), 3),
    }


async def _measure(call: Callable[[int], Awaitable[Any]], count: int, concurrency: int) -> tuple[list[float], float]:
    samples: list[float] = []
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await call(i)
            samples.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - started


async def main(calls: int, warmup: int, concurrency: int) -> dict[str, Any]:
    app = create_app()
    emulator_of(app).state.upsert_user(SandboxUser(USER_ID, "Bench"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")))
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Again", callback_data="again")]])
    results: dict[str, Any] = {}
    try:
        for i in range(warmup):
            await bot.send_message(USER_ID, f"warm-up {i}")
        gc.collect()
        samples, elapsed = await _measure(lambda i: bot.send_message(USER_ID, f"message {i}"), calls, concurrency)
        results["send_message"] = {**_summary(samples), "calls": calls, "per_second": round(calls / elapsed)}
        message = await bot.send_message(USER_ID, "edit me", reply_markup=markup)
        samples, _ = await _measure(
            lambda i: bot.edit_message_text(
                f"edit {i}", chat_id=USER_ID, message_id=message.message_id, reply_markup=markup
            ),
            calls // 4,
            1,
        )
        results["edit_message_text_html_markup"] = _summary(samples)
        samples, _ = await _measure(lambda i: bot.get_me(), calls // 4, 1)
        results["get_me"] = _summary(samples)
    finally:
        await bot.session.close()
        await runner.cleanup()
    send = results["send_message"]
    return {
        "bench": "telegram_emulator",
        "python": platform.python_version(),
        "concurrency": concurrency,
        **results,
        "send_message_median_ms": send["median_ms"],
        "send_message_p99_ms": send["p99_ms"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    report = asyncio.run(main(args.calls, args.warmup, args.concurrency))
    for key in ("send_message", "edit_message_text_html_markup", "get_me"):
        print(f"{key}: {json.dumps(report[key])}")
    print(json.dumps(report))
