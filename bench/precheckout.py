"""Pre-checkout answer latency: how fast the real bot answers Telegram's pre_checkout_query (limit: 10 s).

Usage: python bench/precheckout.py [--n 200] [--concurrency 10] [--pg postgresql+asyncpg://postgres@127.0.0.1:5432/test]

Runs the real bot against the Telegram emulator over HTTP (the end-to-end harness, on a scratch SQLite or
PostgreSQL database). Each of `concurrency` users is sent invoices for a Stars pack through the bot's own code
(the invoice row, then sendInvoice); then the users pay them, `concurrency` payments at a time. The latency of
one is the time from the payment starting (the emulator pushing the pre_checkout_query) to the bot's
answerPreCheckoutQuery call reaching the emulator (both run in this process, one clock), so it includes
long polling, the middlewares, the invoice read and the answer. Every payment is then credited; the books are
checked at the end. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the e2e harness lives in tests/

from bench.journey import percentile, scratch_database
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import relax_throttling

from aistudio.payments.packs import stars_pack
from aistudio.telegram.handlers.payments import send_invoice


async def invoices_for(bot: Bot, user: int, count: int) -> list[int]:
    """Send `count` invoices to `user` through the bot's code; returns their message ids."""
    pack = stars_pack(bot.parts.settings, 50)
    for _ in range(count):
        await send_invoice(bot.parts.services, user, "en", pack)
    messages = await bot.tg.messages(user)
    return [m["message_id"] for m in messages if m.get("invoice")]


async def pay_timed(bot: Bot, user: int, message_id: int) -> float:
    started = time.time()
    result = await bot.tg.pay(user, message_id)
    assert result["status"] == "paid", result
    answers = [
        c
        for c in await bot.tg.calls("answerPreCheckoutQuery")
        if c["params"].get("pre_checkout_query_id") == result["pre_checkout_query_id"]
    ]
    return answers[0]["at"] - started


async def credited_total(bot: Bot, users: list[int], expected: int, within: float = 30.0) -> int:
    """Wallets once every successful payment is credited (crediting follows the payment asynchronously)."""
    deadline = time.monotonic() + within
    while True:
        total = sum([await bot.available(user) for user in users])
        if total >= expected or time.monotonic() > deadline:
            return total
        await asyncio.sleep(0.1)


async def main(n: int, concurrency: int, pg_url: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        async with scratch_database(pg_url, tmp) as url, running_bot(url, tmp) as bot:
            relax_throttling(bot)
            users = [await bot.user(7000 + i, lang="en") for i in range(concurrency)]
            for user in users:  # register them (the first update a user sends does it in production)
                await bot.tg.send_text(user, "/start")
                await bot.tg.wait_for_reply(user)
            per_user = -(-n // concurrency)
            queues = {user: await invoices_for(bot, user, per_user) for user in users}
            latencies: list[float] = []

            async def payer(user: int) -> None:
                for message_id in queues[user]:
                    latencies.append(await pay_timed(bot, user, message_id))

            wall = time.time()
            await asyncio.gather(*(payer(user) for user in users))
            wall = time.time() - wall
            expected = len(latencies) * stars_pack(bot.parts.settings, 50).credit_kopecks
            credited = await credited_total(bot, users, expected)
            books = await bot.books_balanced()
    ms = [value * 1000 for value in latencies]
    return {
        "database": "postgresql" if pg_url else "sqlite",
        "pre_checkouts": len(ms),
        "concurrency": concurrency,
        "answer_p50_ms": round(statistics.median(ms), 1),
        "answer_p99_ms": round(percentile(ms, 0.99), 1),
        "answer_max_ms": round(max(ms), 1),
        "payments_per_s": round(len(ms) / wall, 1),
        "credited_rub": credited / 100,
        "all_credited": credited == expected,
        "books_balanced": books,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="pre-checkout queries to time")
    parser.add_argument("--concurrency", type=int, default=10, help="users paying at the same time")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL to create a scratch database next to")
    args = parser.parse_args()
    figures = asyncio.run(main(args.n, args.concurrency, args.pg))
    print(
        f"pre-checkout answers over {figures['pre_checkouts']} payments, {figures['concurrency']} at a time "
        f"({figures['database']}): p50 {figures['answer_p50_ms']} ms, p99 {figures['answer_p99_ms']} ms"
    )
    print(json.dumps(figures))
