"""Referrals through the Telegram emulator: the invite screen's link, binding by `/start ref_<code>`, the reward
on the referee's paid top-up with the referrer's notice, and what never binds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, users
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import relax_throttling, say, tap, version, wait_screen


async def registered_days_ago(bot: Bot, user: int, days: int = 30) -> None:
    async with bot.parts.engine.begin() as conn:
        since = utcnow() - timedelta(days=days)
        await conn.execute(sa.update(users).where(users.c.id == user).values(created_at=since))


async def referral_credits(bot: Bot) -> int:
    async with bot.parts.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(ledger_transfers.c.idempotency_key.like("referral:%"))
        return int((await conn.execute(query)).scalar_one())


async def referred_by(bot: Bot, user: int) -> int | None:
    async with bot.parts.engine.connect() as conn:
        return (await conn.execute(sa.select(users.c.referred_by).where(users.c.id == user))).scalar()


async def test_invited_friend_is_bound_once_and_the_referrer_earns_from_top_ups(
    database_url: str, tmp_path: Path
) -> None:
    async with running_bot(database_url, tmp_path, referral_percent=10) as bot:
        relax_throttling(bot)
        alice = await bot.user(801, lang="ru", name="Alice")
        bob = await bot.user(802, lang="en", name="Bob")
        old_timer = await bot.user(803, lang="ru", balance_rub=1)  # registered before the link existed
        await registered_days_ago(bot, old_timer)
        menu = await say(bot, alice, "/start", "Привет")
        screen = await tap(bot, alice, menu, "🤝 Пригласить друзей", "Ваша ссылка")
        link = re.search(r"https://t\.me/(\w+)\?start=(ref_[a-z0-9]+)", screen["text"])
        assert link is not None and link.group(1) == "aistudio_sandbox_bot"
        payload = link.group(2)

        await say(bot, bob, f"/start {payload}", "Hi")
        await say(bot, bob, f"/start {payload}", "Hi")  # a second start changes nothing
        await say(bot, old_timer, f"/start {payload}", "Привет")  # not new: never bound
        await say(bot, alice, f"/start {payload}", "Привет")  # never to oneself
        before = await version(bot, alice)
        await bot.parts.services.topups.credit(user_id=bob, provider="stars", external_id="charge-b1",
                                               amount_kopecks=50_000, currency="XTR", provider_amount=250)  # fmt: skip
        notice = await wait_screen(bot, alice, before, "начислено")
        await bot.parts.services.topups.credit(user_id=bob, provider="stars", external_id="charge-b1",
                                               amount_kopecks=50_000, currency="XTR", provider_amount=250)  # fmt: skip
        menu = await say(bot, alice, "/menu", "Главное меню")
        stats = await tap(bot, alice, menu, "🤝 Пригласить друзей", "Приглашено")

        assert [await referred_by(bot, u) for u in (alice, bob, old_timer)] == [None, alice, None]
        assert "50 ₽" in notice["text"]
        assert await bot.available(alice) == 5_000 and await bot.available(bob) == 50_000
        assert await referral_credits(bot) == 1
        assert "Приглашено: 1" in stats["text"] and "Заработано: 50 ₽" in stats["text"]
        notices = [m for m in await bot.tg.bot_messages(alice) if "начислено" in (m.get("text") or "")]
        assert len(notices) == 1
        assert await bot.books_balanced()
