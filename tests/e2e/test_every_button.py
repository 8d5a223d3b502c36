"""Every button reachable from the main menu is answered, shows a message or an edit, and never an error."""

from __future__ import annotations

import pytest

from tests.e2e.harness import Bot
from tests.e2e.walk_buttons import walk_every_button
from tests.e2e.walk_support import generate, lift_flood_limit


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_every_reachable_button_is_answered_with_a_screen_and_no_error(bot: Bot, lang: str) -> None:
    lift_flood_limit(bot)  # the walker presses far faster than people; flood control has its own test
    user = await bot.user(3000, lang=lang, balance_rub=20)
    await generate(bot, user, "something for the history screens")  # so history has a line to open

    walk = await walk_every_button(bot, lang, user=user)
    answered = {c["params"]["callback_query_id"] for c in await bot.tg.calls("answerCallbackQuery") if c["ok"]}

    assert walk.problems == []
    assert all(p.query_id in answered for p in walk.presses), "every press shows up as answerCallbackQuery"
    main_menu = {f"m:{item}" for item in ("video", "images", "edit", "upscale", "audio", "animate", "catalog", "free")}
    mine = {"m:balance", "m:history", "m:help", "m:lang", "bal:topup", "bal:show", "hp:free", "hp:support"}
    assert main_menu | mine <= walk.seen
    assert any(data.startswith("hi:open:") for data in walk.seen) and any(d.startswith("hi:resend:") for d in walk.seen)
