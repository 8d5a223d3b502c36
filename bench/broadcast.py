"""Broadcast throughput: N sandbox users, one broadcast at the configured rate, through the real sender.

    python bench/broadcast.py                    # 20,000 users at BROADCAST_RATE_PER_S (25/s: ~13 minutes)
    python bench/broadcast.py --rate 200         # the same users at 200/s
    python bench/broadcast.py --quick            # 1,000 users at 200/s
    python bench/broadcast.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench_bc --redis

The Telegram emulator runs in its own process (`--in-process`: in this one); users are created through
its control API in bulk. The database
is a fresh SQLite file unless `--database-url` names an empty PostgreSQL database (it is migrated).
The last line is JSON: users, configured rate, sustained rate (sent / time between the first and the last
delivery), its ratio to the configured rate (goal ≥ 0.9), duplicates (chats that got it more than once,
from the emulator's call log; must be 0), failed and blocked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from aistudio.admin.broadcast_sender import BroadcastSender
from aistudio.admin.broadcasts import BroadcastStore, Draft
from aistudio.config import load_settings
from aistudio.db.engine import create_engine
from aistudio.db.migrate import upgrade_to_head
from aistudio.db.sql import utcnow
from aistudio.db.tables import users
from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN, EmulatorConfig
from aistudio.sandbox.telegram.server import create_app
from aistudio.telegram.bot import create_bot
from aistudio.telegram.broadcast_delivery import TelegramTransport
from aistudio.telegram.send_limiter import TELEGRAM_GLOBAL_RATE, make_send_limiter

FIRST_ID = 10_000_000
CHUNK = 5_000

# The emulator in its own process by default: Telegram is another machine in production, and sharing one
# event loop with it would make the sender look slower than it is.
_EMULATOR = """
import sys
from aiohttp import web
from aistudio.sandbox.telegram.config import EmulatorConfig
from aistudio.sandbox.telegram.server import create_app
web.run_app(create_app(EmulatorConfig(call_log_size=int(sys.argv[2]))), host="127.0.0.1", port=int(sys.argv[1]),
            print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def emulator(users: int, in_process: bool) -> AsyncIterator[str]:
    log_size = users * 3 + 1000
    if in_process:
        server = TestServer(create_app(EmulatorConfig(call_log_size=log_size)), host="127.0.0.1")
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/")
        finally:
            await server.close()
        return
    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _EMULATOR, str(port), str(log_size))
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(1200):  # importing aiogram's method models takes a while on a busy machine
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base_url}/sandbox/config")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the Telegram emulator did not start within 120 s")
        yield base_url
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def create_users(base_url: str, database_url: str, count: int) -> None:
    ids = list(range(FIRST_ID, FIRST_ID + count))
    async with httpx.AsyncClient(timeout=120) as http:
        for start in range(0, count, CHUNK):
            batch = [{"id": uid, "first_name": f"U{uid}", "language_code": "en"} for uid in ids[start : start + CHUNK]]
            response = await http.post(f"{base_url}/sandbox/users/bulk", json={"users": batch})
            response.raise_for_status()
    engine = create_engine(database_url)
    now = utcnow()
    async with engine.begin() as conn:
        for start in range(0, count, CHUNK):
            rows = [
                {"id": uid, "first_name": f"U{uid}", "language": "en", "created_at": now, "last_seen_at": now}
                for uid in ids[start : start + CHUNK]
            ]
            await conn.execute(sa.insert(users), rows)
    await engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, object]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-broadcast-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    await asyncio.to_thread(upgrade_to_head, database_url)
    async with emulator(args.users, args.in_process) as base_url:
        return await measure(args, database_url, base_url)


async def measure(args: argparse.Namespace, database_url: str, base_url: str) -> dict[str, object]:
    settings = load_settings(
        database_url=database_url, telegram_bot_token=DEFAULT_TOKEN, telegram_api_base=base_url,
        broadcast_rate_per_s=args.rate, redis_url="redis://127.0.0.1:6379/0" if args.redis else None,
    )  # fmt: skip
    t0 = time.monotonic()
    await create_users(base_url, database_url, args.users)
    setup_s = time.monotonic() - t0

    engine = create_engine(database_url, pool_size=max(10, args.concurrency * 2))
    bot = create_bot(settings)
    store = BroadcastStore(engine)
    limiter = make_send_limiter(settings.redis_url, prefix=f"bench:{time.time_ns()}")
    sender = BroadcastSender(
        store, TelegramTransport(bot), limiter, None, concurrency=args.concurrency,
        global_rate=max(TELEGRAM_GLOBAL_RATE, args.rate),
    )  # fmt: skip
    tg = SandboxTelegramClient(base_url)
    try:
        draft = Draft("<b>Bench</b> broadcast", button_text="Open", button_url="https://example.com/bench")
        created = await store.create(1, draft, "all", args.rate)
        t1 = time.monotonic()
        started = await store.start(created.id)
        snapshot_s = time.monotonic() - t1
        assert started is not None
        t2 = time.monotonic()
        await sender.drive(created.id)
        drive_s = time.monotonic() - t2
        final = await store.get(created.id)
        assert final is not None
        calls = [c for c in await tg.calls("sendMessage") if c["ok"]]
    finally:
        await tg.aclose()
        await limiter.close()
        await bot.session.close()
        await engine.dispose()
    per_chat = Counter(int(c["params"]["chat_id"]) for c in calls)
    stamps = sorted(float(c["at"]) for c in calls)
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    sustained = (len(stamps) - 1) / span if span > 0 else 0.0
    tenth = max(1, len(stamps) // 10)
    deciles = [
        round((tenth - 1) / (stamps[i + tenth - 1] - stamps[i]), 1) if stamps[i + tenth - 1] > stamps[i] else None
        for i in range(0, len(stamps) - tenth + 1, tenth)
    ]
    return {
        "users": args.users,
        "database": "postgresql" if database_url.startswith("postgresql") else "sqlite",
        "limiter": "redis" if args.redis else "in-process",
        "emulator": "in-process" if args.in_process else "own process",
        "configured_rate_per_s": args.rate,
        "sustained_rate_per_s": round(sustained, 2),
        "ratio": round(sustained / args.rate, 3),
        "sent": final.sent,
        "failed": final.failed,
        "blocked": final.blocked,
        "duplicates": sum(1 for n in per_chat.values() if n > 1),
        "missing": args.users - len(per_chat),
        "rate_by_tenth": deciles[:10],  # a rate falling over the run would show here
        "sending_s": round(span, 2),
        "drive_s": round(drive_s, 2),
        "snapshot_s": round(snapshot_s, 2),
        "setup_s": round(setup_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=None, help="messages per second (default BROADCAST_RATE_PER_S)")
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight at once")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--redis", action="store_true", help="the send limiter in Redis at 127.0.0.1:6379")
    parser.add_argument("--in-process", action="store_true", help="run the emulator in this process")
    parser.add_argument("--quick", action="store_true", help="1,000 users at 200/s")
    args = parser.parse_args()
    if args.quick:
        args.users, args.rate = min(args.users, 1_000), args.rate or 200.0
    if args.rate is None:
        args.rate = load_settings().broadcast_rate_per_s
    result = asyncio.run(run(args))
    print(json.dumps(result))
    sys.exit(0 if result["duplicates"] == 0 and result["ratio"] >= 0.9 else 1)


if __name__ == "__main__":
    main()
