"""Promo codes through the Telegram emulator: an admin creates them, users redeem them (command, button, deep
link), every refusal has its own message, and a percentage code adds to the next paid top-up."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from aistudio.db.tables import admin_audit
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import relax_throttling, say, tap, version, wait_screen

ADMIN = 900


async def start(bot: Bot, user: int, payload: str = "", expect: str = "Привет") -> None:
    await say(bot, user, f"/start {payload}".strip(), expect)


async def test_fixed_code_by_command_button_and_deep_link(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,)) as bot:
        relax_throttling(bot)
        admin = await bot.user(ADMIN, lang="en", name="Boss")
        anna, boris, vera = [await bot.user(i, lang="ru") for i in (901, 902, 903)]
        await start(bot, admin, expect="Hi")
        created = await say(bot, admin, "/newpromo spring fixed 100 uses=5", "created")
        await start(bot, anna)

        by_command = await say(bot, anna, "/promo spring", "активирован")
        again = await say(bot, anna, "/promo SPRING", "уже активировали")
        await start(bot, boris)
        typo = await say(bot, boris, "/promo SPRNG", "не найден")
        asked = await tap(bot, boris, typo, "🎟 Другой промокод", "Отправьте промокод")  # MenuCb(to="promo")
        by_button = await say(bot, boris, "spring", "активирован")
        await say(bot, vera, "/start promo_SPRING", "активирован")
        listed = await say(bot, admin, "/promos", "Promo codes")

        assert "SPRING" in created["text"] and "?start=promo_SPRING" in created["text"]
        assert "+100 ₽" in by_command["text"] and "Баланс: 100 ₽" in by_command["text"]
        assert "SPRING" in again["text"]
        assert any(b["text"].startswith("⬅️") for row in asked["keyboard"]["rows"] for b in row)
        assert "+100 ₽" in by_button["text"]
        assert "used: 3 of 5" in listed["text"]
        assert [await bot.available(u) for u in (anna, boris, vera)] == [10_000, 10_000, 10_000]
        async with bot.parts.engine.connect() as conn:
            audit = (await conn.execute(sa.select(admin_audit.c.action, admin_audit.c.admin_id))).all()
        assert audit == [("promo.create", ADMIN)]
        assert await bot.books_balanced()


async def test_every_refusal_has_its_own_message(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,)) as bot:
        relax_throttling(bot)
        admin = await bot.user(ADMIN, lang="en")
        first, user = await bot.user(911, lang="en"), await bot.user(912, lang="en")
        await say(bot, admin, "/newpromo ONCE fixed 10 uses=1", "created")
        await say(bot, admin, "/newpromo OLD fixed 10 expires=2020-01-31", "created")
        await say(bot, admin, "/newpromo GONE percent 10", "created")
        gone = await say(bot, admin, "/delpromo gone", "switched off")
        await say(bot, first, "/promo ONCE", "applied")

        unknown = await say(bot, user, "/promo NOSUCH", "not found")
        expired = await say(bot, user, "/promo old", "expired")
        exhausted = await say(bot, user, "/promo ONCE", "run out")
        inactive = await say(bot, user, "/promo GONE", "switched off")
        await say(bot, user, "/newpromo HACK fixed 1000", "I don't know that command")  # not an admin
        usage = await say(bot, admin, "/newpromo BAD fixed", "Usage")
        bad_amount = await say(bot, admin, "/newpromo BAD fixed -3", "positive number")
        await say(bot, first, "/promo once", "already used")

        assert "NOSUCH" in unknown["text"] and "OLD" in expired["text"] and "ONCE" in exhausted["text"]
        assert "GONE" in inactive["text"] and "GONE" in gone["text"]
        assert "/newpromo CODE percent" in usage["text"] and "Usage" in bad_amount["text"]
        assert await bot.available(user) == 0 and await bot.available(first) == 1_000
        assert await bot.books_balanced()


async def test_percent_code_adds_to_the_next_top_up_once(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,)) as bot:
        relax_throttling(bot)
        admin = await bot.user(ADMIN, lang="en")
        user = await bot.user(921, lang="ru")
        await say(bot, admin, "/newpromo PLUS20 percent 20", "created")
        await start(bot, user)
        await say(bot, user, "/promo", "Отправьте промокод")
        promised = await say(bot, user, "plus20", "к следующему пополнению")
        topups = bot.parts.services.topups

        # The same call the Stars handler makes on successful_payment, then a duplicate of it.
        for _ in range(2):
            await topups.credit(user_id=user, provider="stars", external_id="tg-charge-1", amount_kopecks=50_000,
                                currency="XTR", provider_amount=250, payload="e2e")  # fmt: skip
        await topups.credit(user_id=user, provider="stars", external_id="tg-charge-2", amount_kopecks=10_000,
                            currency="XTR", provider_amount=50, payload="e2e")  # fmt: skip
        before = await version(bot, user)
        await bot.tg.send_text(user, "/balance")
        balance = await wait_screen(bot, user, before, "Баланс")

        assert "+20%" in promised["text"]
        assert await bot.available(user) == 50_000 + 10_000 + 10_000  # 20 % of the first top-up only
        assert "700" in balance["text"]
        assert await bot.books_balanced()
