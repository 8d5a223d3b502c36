"""The webhook under load: the real bot (`aistudio run`, webhook mode, PostgreSQL) next to a bare aiogram echo bot
behind the same kind of aiohttp server, both answering through the Telegram emulator.

Usage: python bench/webhook.py [--quick] [--users 500] [--pg URL | --sqlite]

Each virtual user repeats a realistic cycle — `/start`, a menu press, catalog paging forward and back, the
catalog, a model's Start (the wizard opens), the prompt typed (a wizard step), Home — with users interleaved,
so one user's updates arrive one after another as a person's would. Callback queries are real ones: the
emulator creates them when the bench presses a button of each user's menu (their ids are then valid for
answerCallbackQuery), and the bench sets the callback data of the screen it wants. Updates are POSTed straight
to `/telegram/webhook` with the secret header; an update is answered only after it was handled, so the HTTP
latency is the handling latency.

Measured for both bots: updates/s at increasing concurrency (closed loop; the peak is the best level), then
p50/p99 latency under an open-loop load at half the peak rate. For the real bot also: cold start (process
spawn to `/readyz` 200) and idle RSS, and the echo bot's own cold start and idle RSS: the floor aiogram itself sets.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psutil

SELF = str(Path(__file__).resolve())
ROOT = Path(SELF).parents[1]
TOKEN = "7000000001:AAsandbox-emulator-token-0123456789ab"  # the emulator's default token
SECRET = "bench-webhook-secret"
DEFAULT_PG = os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
FIRST_USER = 500_000
PROMPT = "a red fox in the snow, golden hour"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the echo bot (run as `python bench/webhook.py --echo PORT TELEGRAM_URL`) ----------------------------


def run_echo(port: int, telegram_url: str) -> None:
    from aiogram import Bot, Dispatcher, F, Router
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import CallbackQuery, Message, Update
    from aiohttp import web

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram_url)))
    router = Router()
    counter = itertools.count()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    @router.callback_query(F.message)
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        await query.message.edit_text(f"pressed {query.data} #{next(counter)}")  # type: ignore[union-attr]

    dp = Dispatcher()
    dp.include_router(router)

    async def webhook(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return web.Response(status=401)
        update = Update.model_validate(await request.json(), context={"bot": bot})
        await dp.feed_update(bot, update)
        return web.json_response({"ok": True})

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_post("/telegram/webhook", webhook)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# ---- processes ---------------------------------------------------------------------------------------------


Proc = asyncio.subprocess.Process


async def spawn(*args: str, env: dict[str, str] | None = None, log_to: Path | None = None) -> Proc:
    sink = log_to.open("wb") if log_to else subprocess.DEVNULL
    try:
        return await asyncio.create_subprocess_exec(*args, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    finally:
        if log_to:
            sink.close()  # type: ignore[union-attr]


async def wait_ready(http: aiohttp.ClientSession, url: str, proc: Proc, within: float = 180) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if proc.returncode is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            async with http.get(url + "/readyz") as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} not ready in {within} s")


async def stop(proc: Proc) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ---- updates -----------------------------------------------------------------------------------------------


class Traffic:
    """Realistic updates for `users` users: messages made here, callback queries harvested from the emulator."""

    def __init__(self, users: list[int], menus: dict[int, dict[str, Any]], model_key: str, packs: dict[str, str]):
        self.users = users
        self.menus = menus
        self.packs = packs
        self.model_key = model_key
        self.callbacks: dict[int, list[dict[str, Any]]] = {u: [] for u in users}
        self._ids = itertools.count(10_000_000)
        self._message_ids = itertools.count(5_000_000)

    def cycle(self) -> list[tuple[str, str]]:
        p = self.packs
        return [
            ("message", "/start"),
            ("callback", p["menu_images"]),
            ("callback", p["page_1"]),
            ("callback", p["page_0"]),
            ("callback", p["menu_catalog"]),
            ("callback", p["start_model"]),
            ("message", PROMPT),
            ("callback", p["home"]),
        ]

    def needed_callbacks(self, total: int) -> int:
        per_cycle = sum(1 for kind, _ in self.cycle() if kind == "callback")
        return total * per_cycle // len(self.cycle()) // len(self.users) + 2

    def stream(self) -> Iterator[dict[str, Any]]:
        steps = self.cycle()
        for round_ in itertools.count():
            kind, payload = steps[round_ % len(steps)]
            for user in self.users:
                if kind == "message" or not self.callbacks[user]:
                    yield self._message(user, payload if kind == "message" else "/menu")
                else:
                    yield self._callback(user, payload)

    def _message(self, user: int, text: str) -> dict[str, Any]:
        sender = {"id": user, "is_bot": False, "first_name": "Bench", "language_code": "en"}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user, "type": "private", "first_name": "Bench"},
            "from": sender,
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        return {"update_id": next(self._ids), "message": message}

    def _callback(self, user: int, data: str) -> dict[str, Any]:
        harvested = self.callbacks[user].pop()
        query = dict(harvested["callback_query"])
        query["data"] = data
        return {"update_id": next(self._ids), "callback_query": query}


async def harvest(http: aiohttp.ClientSession, telegram_url: str, traffic: Traffic, per_user: int) -> None:
    """Press each user's menu `per_user` times; collect the callback queries the emulator made (getUpdates)."""
    api = f"{telegram_url}/bot{TOKEN}"
    async with http.post(f"{api}/deleteWebhook") as response:
        assert response.status == 200
    press_data = traffic.packs["menu_help"]

    async def press(user: int) -> None:
        for _ in range(per_user):
            body = {"message_id": traffic.menus[user]["message_id"], "callback_data": press_data, "wait": 0}
            async with http.post(f"{telegram_url}/sandbox/users/{user}/press", json=body) as response:
                if response.status != 200:
                    raise RuntimeError(f"press failed: {response.status} {await response.text()}")

    slots = asyncio.Semaphore(32)

    async def limited(user: int) -> None:
        async with slots:
            await press(user)

    await asyncio.gather(*(limited(u) for u in traffic.users))
    offset = 0
    while True:
        async with http.post(f"{api}/getUpdates", json={"offset": offset, "limit": 100, "timeout": 0}) as response:
            batch = (await response.json())["result"]
        if not batch:
            break
        for update in batch:
            offset = update["update_id"] + 1
            query = update.get("callback_query")
            if query:
                traffic.callbacks[query["from"]["id"]].append(update)


# ---- load --------------------------------------------------------------------------------------------------


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, Any]) -> float:
    started = time.perf_counter()
    async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"webhook answered {response.status}")
    return time.perf_counter() - started


async def closed_loop(http: aiohttp.ClientSession, url: str, stream: Iterator[dict], concurrency: int, count: int):
    latencies: list[float] = []
    remaining = itertools.count()

    async def worker() -> None:
        while next(remaining) < count:
            latencies.append(await post(http, url, next(stream)))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies


async def open_loop(http: aiohttp.ClientSession, url: str, stream: Iterator[dict], rate: float, seconds: float):
    latencies: list[float] = []
    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post(http, url, next(stream))))
    latencies = list(await asyncio.gather(*tasks))
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def measure(
    name: str, http: aiohttp.ClientSession, url: str, traffic: Traffic, levels: list[int], per_level: int, half_s: float
) -> dict[str, Any]:
    stream = traffic.stream()
    await closed_loop(http, url, stream, 8, len(traffic.users))  # warm-up: one update per user
    rates = {}
    for level in levels:
        rate, latencies = await closed_loop(http, url, stream, level, max(per_level, level * 4))
        rates[level] = round(rate, 1)
        log(f"{name}: concurrency {level}: {rate:.0f} updates/s, p50 {statistics.median(latencies) * 1000:.1f} ms")
    peak = max(rates.values())
    latencies = await open_loop(http, url, stream, peak / 2, half_s)
    result = {
        "updates_per_s": peak,
        "per_concurrency": rates,
        "p50_ms_at_half_peak": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms_at_half_peak": round(percentile(latencies, 99) * 1000, 1),
    }
    p50, p99 = result["p50_ms_at_half_peak"], result["p99_ms_at_half_peak"]
    log(f"{name}: at {peak / 2:.0f} updates/s: p50 {p50} ms, p99 {p99} ms")
    return result


# ---- the run -----------------------------------------------------------------------------------------------


async def scratch_database(args: argparse.Namespace, tmp: Path) -> tuple[str, str | None]:
    if args.sqlite:
        return f"sqlite+aiosqlite:///{tmp / 'bench.sqlite3'}", None
    import asyncpg

    name = f"aistudio_bench_{uuid.uuid4().hex[:8]}"
    admin = args.pg.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return args.pg.rsplit("/", 1)[0] + "/" + name, name


async def drop_database(args: argparse.Namespace, name: str | None) -> None:
    if name is None:
        return
    import asyncpg

    conn = await asyncpg.connect(args.pg.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def packs() -> tuple[dict[str, str], str]:
    from aistudio.catalog.loader import load_catalog
    from aistudio.telegram.callbacks import HomeCb, ListCb, MenuCb, StartCb
    from aistudio.telegram.catalog_views import model_key

    catalog = load_catalog()
    model = "google/nano-banana" if "google/nano-banana" in catalog else catalog.visible()[0].id
    key = model_key(model)
    return {
        "menu_images": MenuCb(to="images").pack(),
        "menu_catalog": MenuCb(to="catalog").pack(),
        "menu_help": MenuCb(to="help").pack(),
        "page_1": ListCb(sec="images", page=1).pack(),
        "page_0": ListCb(sec="images", page=0).pack(),
        "start_model": StartCb(m=key, sec="images", page=0).pack(),
        "home": HomeCb().pack(),
    }, model


async def run(args: argparse.Namespace) -> dict[str, Any]:
    levels = [1, 8, 32] if args.quick else [1, 4, 16, 32, 64]
    per_level = 150 if args.quick else 400
    half_s = 4.0 if args.quick else 10.0
    users = list(range(FIRST_USER, FIRST_USER + args.users))
    tmp = Path(tempfile.mkdtemp(prefix="aistudio-bench-"))
    database_url, scratch = await scratch_database(args, tmp)
    procs: list[Proc] = []
    out: dict[str, Any] = {}
    try:
        migrate = await spawn(
            sys.executable, "-m", "aistudio.cli", "migrate", env={**os.environ, "DATABASE_URL": database_url}
        )
        if await migrate.wait() != 0:
            raise RuntimeError("aistudio migrate failed")
        tg_port, bot_port, echo_port = free_port(), free_port(), free_port()
        telegram_url = f"http://127.0.0.1:{tg_port}"
        procs.append(await spawn(sys.executable, "-m", "aistudio.cli", "sandbox", "telegram", "--port", str(tg_port)))
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            await wait_ready_emulator(http, telegram_url)
            async with http.post(f"{telegram_url}/sandbox/config", json={"callback_query_ttl": 3600}) as response:
                assert response.status == 200, await response.text()
            for user in users:
                body = {"id": user, "first_name": "Bench", "language_code": "en"}
                async with http.post(f"{telegram_url}/sandbox/users", json=body) as response:
                    assert response.status in (200, 201), await response.text()

            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "KIE_", "TELEGRAM_"))},
                "DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": telegram_url,
                "WEBHOOK_BASE_URL": f"http://127.0.0.1:{bot_port}", "WEBHOOK_SECRET": SECRET,
                "WEB_HOST": "127.0.0.1", "WEB_PORT": str(bot_port), "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
                "KIE_API_KEY": "bench-key", "KIE_API_BASE": "http://127.0.0.1:9", "KIE_UPLOAD_BASE": "http://127.0.0.1:9",
                "FX_SOURCE_URL": "http://127.0.0.1:9/fx", "REDIS_URL": "",
            }  # fmt: skip
            command = [sys.executable, "-m", "aistudio.cli", "run"]
            if args.profile:  # a CPU profile of the real bot over the whole run (py-spy must be installed)
                spy = shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy")
                command = [spy, "record", "--idle", "-f", "raw", "-o", args.profile, "--", *command]
            bot = await spawn(*command, env=env, log_to=tmp / "bot.log")
            procs.append(bot)
            bot_url = f"http://127.0.0.1:{bot_port}"
            out["cold_start_s"] = round(await wait_ready(http, bot_url, bot), 2)
            await asyncio.sleep(2)
            out["idle_rss_mb"] = round(psutil.Process(bot.pid).memory_info().rss / 2**20, 1)
            log(f"full bot: ready in {out['cold_start_s']} s, idle RSS {out['idle_rss_mb']} MB")

            pack, model = packs()
            traffic = Traffic(users, {}, model, pack)
            # Each user's /start (through the real bot) leaves a menu whose buttons the emulator can press.
            for user in users:
                await post(http, bot_url + "/telegram/webhook", traffic._message(user, "/start"))
                async with http.get(f"{telegram_url}/sandbox/users/{user}/transcript") as response:
                    messages = (await response.json())["messages"]
                traffic.menus[user] = next(
                    m for m in reversed(messages) if m["direction"] == "out" and m.get("keyboard")
                )
            total = len(users) + sum(max(per_level, c * 4) for c in levels) + int(half_s * 2000)
            await harvest(http, telegram_url, traffic, traffic.needed_callbacks(total))
            echo_traffic = Traffic(users, traffic.menus, model, pack)
            await harvest(http, telegram_url, echo_traffic, echo_traffic.needed_callbacks(total))

            full = await measure("full", http, bot_url + "/telegram/webhook", traffic, levels, per_level, half_s)
            out["full_idle_rss_after_load_mb"] = round(psutil.Process(bot.pid).memory_info().rss / 2**20, 1)
            if args.profile:
                bot.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
                await bot.wait()
                log(f"profile written to {args.profile}")
                return {"full_updates_per_s": full["updates_per_s"], **full, "cold_start_s": out["cold_start_s"]}
            await stop(bot)

            echo = await spawn(sys.executable, SELF, "--echo", str(echo_port), telegram_url)
            procs.append(echo)
            echo_url = f"http://127.0.0.1:{echo_port}"
            out["echo_cold_start_s"] = round(await wait_ready(http, echo_url, echo), 2)
            await asyncio.sleep(2)
            # The floor under the full bot's figures: aiogram alone, on the same machine.
            out["echo_idle_rss_mb"] = round(psutil.Process(echo.pid).memory_info().rss / 2**20, 1)
            bare = await measure("echo", http, echo_url + "/telegram/webhook", echo_traffic, levels, per_level, half_s)
    finally:
        for proc in reversed(procs):
            await stop(proc)
        await drop_database(args, scratch)

    return {
        "full_updates_per_s": full["updates_per_s"],
        "echo_updates_per_s": bare["updates_per_s"],
        "ratio": round(full["updates_per_s"] / bare["updates_per_s"], 2),
        "full_p50_ms_at_half_peak": full["p50_ms_at_half_peak"],
        "full_p99_ms_at_half_peak": full["p99_ms_at_half_peak"],
        "echo_p50_ms_at_half_peak": bare["p50_ms_at_half_peak"],
        "echo_p99_ms_at_half_peak": bare["p99_ms_at_half_peak"],
        "cold_start_s": out["cold_start_s"],
        "idle_rss_mb": out["idle_rss_mb"],
        "full_rss_after_load_mb": out["full_idle_rss_after_load_mb"],
        "echo_cold_start_s": out["echo_cold_start_s"],
        "echo_idle_rss_mb": out["echo_idle_rss_mb"],
        "full_per_concurrency": full["per_concurrency"],
        "echo_per_concurrency": bare["per_concurrency"],
        "users": len(users),
        "database": "sqlite" if args.sqlite else "postgresql",
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


async def wait_ready_emulator(http: aiohttp.ClientSession, url: str) -> None:
    for _ in range(3000):
        try:
            async with http.get(f"{url}/bot{TOKEN}/getMe") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the Telegram emulator did not start")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--echo":
        run_echo(int(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer levels, shorter runs")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument(
        "--pg", default=DEFAULT_PG, help="admin URL of a PostgreSQL server (a scratch database is made)"
    )
    parser.add_argument("--sqlite", action="store_true", help="run the bot on SQLite instead")
    parser.add_argument("--profile", metavar="FILE", help="record the real bot with py-spy (collapsed stacks)")
    args = parser.parse_args()
    if args.quick and args.users == 500:
        args.users = 200
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
