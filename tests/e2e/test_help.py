"""Help/FAQ: every topic answers, in both languages, with the free tier and support contact from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import Bot, running_bot
from tests.e2e.walk_support import button_texts, has_error_text, lift_flood_limit

TOPICS = {
    "ru": ["🆓 Что бесплатно?", "💳 Как считается цена?", "💰 Как пополнить?", "⚠️ Если что-то не так", "💬 Поддержка"],
    "en": [
        "🆓 What is free?",
        "💳 How is the price set?",
        "💰 How do I top up?",
        "⚠️ If something goes wrong",
        "💬 Support",
    ],
}
BACK = {"ru": "⬅️ К вопросам", "en": "⬅️ Back to questions"}


async def press_and_read(bot: Bot, user: int, message_id: int, text: str) -> tuple[dict, dict]:
    """Press a button; return the callback answer and the pressed message once the bot edited it."""
    before = (await bot.tg.transcript(user))["version"]
    answer = await bot.tg.press(user, message_id, text=text, wait=5)
    transcript = await bot.tg.wait_until(
        user, lambda t: any(m["message_id"] == message_id and m["version"] > before for m in t["messages"])
    )
    return answer, next(m for m in transcript["messages"] if m["message_id"] == message_id)


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_every_help_topic_answers_and_leads_back(database_url: str, tmp_path: Path, lang: str) -> None:
    settings = {"support_contact": "@studio_help_desk", "free_per_model_per_day": 7, "free_per_model_per_hour": 3}
    async with running_bot(database_url, tmp_path, **settings) as bot:
        lift_flood_limit(bot)
        user = await bot.user(801, lang=lang)
        sent = await bot.tg.send_text(user, "/help")
        main = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])
        assert button_texts(main)[:5] == TOPICS[lang]

        answers = {}
        for topic in TOPICS[lang]:
            answer, shown = await press_and_read(bot, user, main["message_id"], topic)
            assert answer["answered"]
            answers[topic] = shown["text"]
            assert BACK[lang] in button_texts(shown)
            answer, back = await press_and_read(bot, user, main["message_id"], BACK[lang])
            assert answer["answered"] and button_texts(back)[:5] == TOPICS[lang]

        free, pricing, topup, errors, support = (answers[topic] for topic in TOPICS[lang])
        free_names = sorted(bot.parts.catalog.get(m).name.get(lang) for m in bot.parts.services.free_model_ids)
        assert free_names and all(f"• {name}" in free for name in free_names)
        assert ("3 раз в час" in free and "7 раз в день" in free) or (
            "3 times an hour" in free and "7 times a day" in free
        )
        assert "🚀" in pricing and ("возвращается" in pricing or "comes back" in pricing)
        assert "@studio_help_desk" in topup and "@studio_help_desk" in support
        assert "RQ-XXXXXXXX" in errors and "@studio_help_desk" in errors
        assert not has_error_text(await bot.tg.bot_messages(user))


async def test_help_opens_from_the_main_menu(bot: Bot) -> None:
    user = await bot.user(802, lang="en")
    sent = await bot.tg.send_text(user, "/menu")
    menu = await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])

    answer, shown = await press_and_read(bot, user, menu["message_id"], "❓ Help")

    assert answer["answered"]
    assert shown["text"].startswith("❓ Help") and button_texts(shown) == [*TOPICS["en"], "🏠 Menu"]
