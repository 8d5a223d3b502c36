"""The welcome bonus: credited once on the first /start (also a deep-link start), never by a later one, and never
doubled by the legacy script, which shares its ledger key; a /start redelivered after a crash (the user row
committed, the bonus and the referral not) still pays the bonus and binds the referrer, once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from aistudio.db.repo.users import upsert_user
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, users
from aistudio.growth.legacy_bonus import migrate_legacy_bonus, start_bonus_key
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import relax_throttling, say


async def bonus_messages(bot: Bot, user: int) -> int:
    return sum("приветственный бонус: 50 ₽" in (m.get("text") or "") for m in await bot.tg.bot_messages(user))


async def bonus_credits(bot: Bot, user: int) -> int:
    async with bot.parts.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(ledger_transfers.c.idempotency_key == start_bonus_key(user))
        return int((await conn.execute(query)).scalar_one())


async def registered_days_ago(bot: Bot, user: int, days: int = 30) -> None:
    async with bot.parts.engine.begin() as conn:
        since = utcnow() - timedelta(days=days)
        await conn.execute(sa.update(users).where(users.c.id == user).values(created_at=since))


async def test_welcome_bonus_once_per_user_and_the_legacy_script_adds_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async with running_bot(database_url, tmp_path, start_bonus_rub=Decimal(50)) as bot:
        relax_throttling(bot)
        anna = await bot.user(701, lang="ru")
        boris = await bot.user(702, lang="ru")
        legacy = await bot.user(703, lang="ru", balance_rub=5)  # registered before the bonus existed
        await registered_days_ago(bot, legacy)

        await say(bot, anna, "/start", "приветственный бонус")
        await say(bot, anna, "/start", "Привет")
        await say(bot, boris, "/start from_ads", "приветственный бонус")  # any deep link
        await say(bot, legacy, "/start", "Привет")
        parts = bot.parts
        lines: list[str] = []
        report = await migrate_legacy_bonus(
            parts.engine, parts.services.ledger, 5_000, dry_run=False, echo=lines.append
        )
        again = await migrate_legacy_bonus(parts.engine, parts.services.ledger, 5_000, dry_run=False, echo=lines.append)
        async with parts.engine.connect() as conn:
            payload = (await conn.execute(sa.select(users.c.start_payload).where(users.c.id == boris))).scalar()

        assert await bonus_messages(bot, anna) == 1 and await bonus_messages(bot, legacy) == 0
        assert (report.credited, again.credited) == (1, 0)
        assert f"user {legacy}: credited 50 ₽" in lines
        assert [await bot.available(u) for u in (anna, boris, legacy)] == [5_000, 5_000, 500 + 5_000]
        assert [await bonus_credits(bot, u) for u in (anna, boris, legacy)] == [1, 1, 1]
        assert payload == "from_ads"
        assert await bot.books_balanced()


async def test_start_redelivered_after_a_crash_pays_the_bonus_and_binds_the_referrer_once(
    database_url: str, tmp_path: Path
) -> None:
    async with running_bot(database_url, tmp_path, start_bonus_rub=Decimal(50)) as bot:
        relax_throttling(bot)
        alice = await bot.user(711, lang="ru")
        await say(bot, alice, "/start", "приветственный бонус")
        async with bot.parts.engine.connect() as conn:
            code = (await conn.execute(sa.select(users.c.referral_code).where(users.c.id == alice))).scalar_one()
        bob = await bot.user(712, lang="ru")
        # The first /start ref_ registered Bob, then the process died: no wallet, no bonus, no referrer, no payload.
        async with bot.parts.engine.begin() as conn:
            await upsert_user(conn, bob, first_name="Anna", language="ru")

        redelivered = await say(bot, bob, f"/start ref_{code}", "приветственный бонус")
        again = await say(bot, bob, f"/start ref_{code}", "Привет")
        async with bot.parts.engine.connect() as conn:
            row = (
                await conn.execute(sa.select(users.c.referred_by, users.c.start_payload).where(users.c.id == bob))
            ).one()

        assert "50 ₽" in redelivered["text"] and "бонус" not in again["text"]
        assert (row.referred_by, row.start_payload) == (alice, f"ref_{code}")
        assert await bonus_credits(bot, bob) == 1 and await bonus_messages(bot, bob) == 1
        assert await bot.available(bob) == 5_000
        assert await bot.books_balanced()
