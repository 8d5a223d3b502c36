"""The welcome bonus: credited once on the first /start (also a deep-link start), never by a later one, and never
doubled by the legacy script, which shares its ledger key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from aistudio.db.tables import users
from aistudio.growth.legacy_bonus import migrate_legacy_bonus
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import relax_throttling, say


async def bonus_messages(bot: Bot, user: int) -> int:
    return sum("приветственный бонус: 50 ₽" in (m.get("text") or "") for m in await bot.tg.bot_messages(user))


async def test_welcome_bonus_once_per_user_and_the_legacy_script_adds_nothing(
    database_url: str, tmp_path: Path
) -> None:
    async with running_bot(database_url, tmp_path, start_bonus_rub=Decimal(50)) as bot:
        relax_throttling(bot)
        anna = await bot.user(701, lang="ru")
        boris = await bot.user(702, lang="ru")
        legacy = await bot.user(703, lang="ru", balance_rub=5)  # registered before the bonus existed

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
        assert payload == "from_ads"
        assert await bot.books_balanced()
