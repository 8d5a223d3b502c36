"""History: generations made through the real pipeline, listed, paged, opened, re-sent, guarded."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.telegram.history_views import HistoryCb
from tests.e2e.harness import Bot
from tests.e2e.walk_support import (
    PAID_IMAGE_PRICE,
    button_texts,
    fail_next_task,
    finished,
    generate,
    has_error_text,
    newest_generation_id,
)


async def open_history(bot: Bot, user: int) -> dict:
    sent = await bot.tg.send_text(user, "/history")
    return await bot.tg.wait_for_reply(user, after_message_id=sent["message_id"])


async def press_and_wait_for_edit(bot: Bot, user: int, message: dict, text: str) -> dict:
    """Press a button of `message` and return the message once the bot has edited it."""
    before = (await bot.tg.transcript(user))["version"]
    answer = await bot.tg.press(user, message["message_id"], text=text, wait=5)
    assert answer["answered"]

    def edited(transcript: dict) -> dict | None:
        return next(
            (m for m in transcript["messages"] if m["message_id"] == message["message_id"] and m["version"] > before),
            None,
        )

    return edited(await bot.tg.wait_until(user, lambda t: edited(t) is not None))  # type: ignore[return-value]


async def test_empty_history_is_friendly_and_offers_the_menu(bot: Bot) -> None:
    user = await bot.user(601, lang="en")

    reply = await open_history(bot, user)

    assert reply["text"].startswith("🕘 Nothing here yet")
    assert "🎬 Video for Reels/TikTok" in button_texts(reply)


async def test_history_lists_newest_first_with_status_and_price_and_pages(bot: Bot) -> None:
    user = await bot.user(602, lang="en", balance_rub=100)
    for number in range(8):
        await generate(bot, user, f"picture number {number}")
    await fail_next_task(bot)
    failed = await generate(bot, user, "the one that fails")
    assert failed.state == "failed"

    first = await open_history(bot, user)
    lines = first["text"].splitlines()

    assert lines[0] == "🕘 Your generations · page 1/2 · 9 in all"
    assert lines[1].startswith("1. ❌ Grok Imagine · ") and lines[1].endswith("· 3.80 ₽ refunded")
    assert lines[2].startswith("2. ✅ Grok Imagine · ") and lines[2].endswith("· 3.80 ₽")
    assert len([b for b in button_texts(first) if "Grok Imagine" in b]) == 8
    assert "Newer" not in " ".join(button_texts(first))

    second = await press_and_wait_for_edit(bot, user, first, "Older ➡️")

    assert second["text"].splitlines()[0] == "🕘 Your generations · page 2/2 · 9 in all"
    assert second["text"].splitlines()[1].startswith("9. ✅ Grok Imagine")
    assert "⬅️ Newer" in button_texts(second) and "Older ➡️" not in button_texts(second)
    assert await bot.available(user) == 100_00 - 8 * PAID_IMAGE_PRICE
    assert await bot.books_balanced()


async def test_details_escape_the_prompt_and_resend_reuses_the_stored_file_ids(bot: Bot) -> None:
    user = await bot.user(603, lang="ru", balance_rub=10)
    gen = await generate(bot, user, "<b>коты</b> & собаки")
    stored = {f["kind"]: f["file_id"] for f in gen.result_files}
    listing = await open_history(bot, user)

    details = await press_and_wait_for_edit(bot, user, listing, "1. ✅ Grok Imagine")

    assert "📝 Запрос: <b>коты</b> & собаки" in details["text"]  # shown literally: it was escaped
    assert "💳 3.80 ₽" in details["text"] and gen.request_id in details["text"]
    assert button_texts(details) == ["📤 Отправить ещё раз", "🔁 Повторить", "⬅️ К истории", "🏠 Меню"]

    since = (await bot.tg.calls())[-1]["seq"]
    answer = await bot.tg.press(user, details["message_id"], text="📤 Отправить ещё раз", wait=5)
    await bot.tg.wait_until(user, lambda t: sum(m.get("media") is not None for m in t["messages"]) >= 4)
    calls = await bot.tg.calls("sendPhoto,sendDocument", since=since)

    assert answer["answered"]
    assert [(c["method"], c["ok"]) for c in calls] == [("sendPhoto", True), ("sendDocument", True)]
    assert calls[0]["params"]["photo"] == stored["photo"]
    assert calls[1]["params"]["document"] == stored["document"]
    assert "Из истории: Grok Imagine" in (calls[0]["params"].get("caption") or "")
    assert await bot.available(user) == 10_00 - PAID_IMAGE_PRICE  # re-sending is free


async def test_failed_generation_details_say_refunded_and_offer_no_resend(bot: Bot) -> None:
    user = await bot.user(604, lang="en", balance_rub=10)
    await fail_next_task(bot)
    gen = await generate(bot, user, "will fail")
    listing = await open_history(bot, user)

    details = await press_and_wait_for_edit(bot, user, listing, "1. ❌ Grok Imagine")

    assert "❌ Failed" in details["text"] and "3.80 ₽ refunded" in details["text"]
    assert gen.request_id in details["text"]
    assert "📤 Send again" not in button_texts(details) and "🔁 Repeat" in button_texts(details)
    assert await bot.available(user) == 10_00


async def test_someone_elses_generation_button_is_refused(bot: Bot) -> None:
    owner = await bot.user(605, lang="en", balance_rub=10)
    intruder = await bot.user(606, lang="en")
    gen = await generate(bot, owner, "mine, not yours")
    await bot.tg.send_text(intruder, "/start")
    buttons = [
        InlineKeyboardButton(text="open", callback_data=HistoryCb(action="open", gen=gen.id).pack()),
        InlineKeyboardButton(text="resend", callback_data=HistoryCb(action="resend", gen=gen.id).pack()),
    ]
    # A forged message in the intruder's chat carrying buttons that name the owner's generation.
    forged = await bot.parts.bot.send_message(
        intruder, "forged", reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons])
    )
    since = (await bot.tg.calls())[-1]["seq"]

    opened = await bot.tg.press(intruder, forged.message_id, text="open", wait=5)
    resent = await bot.tg.press(intruder, forged.message_id, text="resend", wait=5)

    assert "someone else's" in opened["answer"]["text"] and "someone else's" in resent["answer"]["text"]
    assert await bot.tg.calls("sendPhoto,sendDocument,editMessageText", since=since) == []
    assert not has_error_text(await bot.tg.bot_messages(intruder))


async def test_repeat_from_history_launches_the_same_inputs_again(bot: Bot) -> None:
    user = await bot.user(607, lang="en", balance_rub=10)
    first = await generate(bot, user, "the same fox twice")
    listing = await open_history(bot, user)
    details = await press_and_wait_for_edit(bot, user, listing, "1. ✅ Grok Imagine")

    answer = await bot.tg.press(user, details["message_id"], text="🔁 Repeat", wait=5)
    second = await finished(bot, await newest_generation_id(bot, user, after=first.id))

    assert answer["answered"]
    assert second.inputs == first.inputs and second.model_id == first.model_id and second.state == "completed"
    assert await bot.available(user) == 10_00 - 2 * PAID_IMAGE_PRICE
