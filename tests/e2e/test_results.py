"""Launch, progress and results through the real bot: money, files, failures, free limits, chaining."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from aistudio.db.tables import generations
from aistudio.telegram import delivery
from aistudio.telegram.result_keyboards import after_result
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import (
    body,
    button_texts,
    kie_stats,
    kie_tasks,
    open_menu,
    open_wizard,
    relax_throttling,
    say,
    tap,
    until,
    version,
    wait_screen,
)


@pytest.fixture(autouse=True)
def _tests_tap_faster_than_people(bot: Bot) -> None:
    relax_throttling(bot)


def shown_price(summary: dict) -> int:
    """Kopecks of the "Price: X ₽" line of a summary."""
    match = re.search(r"(?:Price|Цена): ([\d.]+) ₽", body(summary))
    assert match, body(summary)
    return int(Decimal(match.group(1)) * 100)


async def rows(bot: Bot, user: int) -> list[sa.Row]:
    g = generations
    async with bot.parts.engine.connect() as conn:
        query = sa.select(g.c.id, g.c.state, g.c.is_free, g.c.price_kopecks, g.c.charged_kopecks, g.c.inputs,
                          g.c.result_urls, g.c.source_generation_id, g.c.progress_message_id)  # fmt: skip
        return list((await conn.execute(query.where(g.c.user_id == user).order_by(g.c.id))).all())


async def launch_and_wait(bot: Bot, user: int, summary: dict, label: str, expect: str = "Done:") -> dict:
    before = await version(bot, user)
    await tap(bot, user, summary, label, "The result will arrive here", deleted_too=True)
    return await wait_screen(bot, user, before, expect, within=10)


async def test_paid_journey_from_the_menu_shows_progress_then_photo_and_original_for_the_shown_price(bot: Bot) -> None:
    user = await bot.user(901, lang="ru", balance_rub=100)
    bot.parts.generations.pipeline.delivery.progress_messages.interval = 0.3  # seconds, not five
    await bot.kie("POST", "/sandbox/timing", {"model": "google/nano-banana", "duration": 125})  # 2.5 s here
    menu = await open_menu(bot, user)
    images = await tap(bot, user, menu, "🖼 Картинки и баннеры", "Выберите нейросеть")
    card = await tap(bot, user, images, "🔥 Nano Banana ·", "Нужно: текст")
    await tap(bot, user, card, "▶️ Начать", "шаг 1 из 1")
    summary = await say(bot, user, "котик в космосе", "Проверьте и запустите")
    price = shown_price(summary)
    seq = max(c["seq"] for c in await bot.tg.calls())

    started = time.perf_counter()
    progress = await tap(bot, user, summary, "🚀 Запустить за", "Результат придёт сюда", deleted_too=True)
    latency = time.perf_counter() - started
    await wait_screen(bot, user, progress["version"], "генерирую… 0:01", deleted_too=True)
    photo = await wait_screen(bot, user, progress["version"], "Готово: Nano Banana", within=10)
    original = await wait_screen(bot, user, photo["version"], "Оригинал без сжатия")
    await until(lambda: _progress_removed(bot, user, "Результат придёт сюда"))
    await until(lambda: _all_settled(bot, user))

    steps = 6  # /menu, 🖼, the model, ▶️ Start, the prompt, 🚀 Launch
    print(f"\nnano-banana journey: {steps} presses and messages; Launch → progress {latency * 1000:.0f} ms")
    assert latency < 1.0  # generous for a loaded machine; bench/journey.py measures p50/p99
    assert await bot.available(user) == 100_00 - price
    assert photo["media"]["kind"] == "photo" and original["media"]["kind"] == "document"
    assert re.match(rf"✅ Готово: Nano Banana\n💳 списано {price / 100:.2f} ₽ · ⏱ \d+ с", body(photo)), body(photo)
    assert button_texts(original) == [
        "🔁 Повторить", "⚙️ Изменить настройки", "➡️ Использовать результат в…", "🏠 Меню"
    ]  # fmt: skip
    [row] = await rows(bot, user)
    assert row.state == "completed" and row.charged_kopecks == price
    assert await bot.books_balanced()
    calls = await bot.tg.calls("editMessageText,sendChatAction,deleteMessage", since=seq)
    edits = [
        c for c in calls if c["method"] == "editMessageText" and c["params"]["message_id"] == progress["message_id"]
    ]
    texts = [c["params"]["text"] for c in edits]
    assert all(c["ok"] for c in calls), [c.get("error") for c in calls if not c["ok"]]
    assert len(texts) == len(set(texts)) >= 2  # edited as time passes, never with the same text
    assert any(c["method"] == "sendChatAction" and c["params"]["action"] == "upload_photo" for c in calls)
    assert [c["params"]["message_id"] for c in calls if c["method"] == "deleteMessage"] == [progress["message_id"]]


async def _progress_removed(bot: Bot, user: int, marker: str = "The result will arrive here") -> bool:
    progress = [m for m in await bot.tg.messages(user) if marker in body(m)]
    return bool(progress) and all(m["deleted"] for m in progress)


async def test_audio_comes_as_audio_and_a_file_over_the_upload_limit_as_a_link(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await bot.user(911, lang="en", balance_rub=100)
    await open_wizard(bot, user, "suno sounds", "🆓 Suno Sounds", "step 1 of 1")
    summary = await say(bot, user, "rain on a tin roof", "Check and launch")
    audio = await launch_and_wait(bot, user, summary, "🚀 Launch for free")
    await until(lambda: _all_settled(bot, user))
    last = [m for m in await bot.tg.bot_messages(user) if "🔁 Repeat" in button_texts(m)][-1]
    monkeypatch.setattr(delivery, "FILE_LIMIT", 10)  # every file is now too big for a bot to upload

    link = await launch_and_wait(bot, user, last, "🔁 Repeat")
    await until(lambda: _all_settled(bot, user))

    assert audio["media"]["kind"] == "audio" and body(audio).startswith("✅ Done: Suno Sounds")
    [first, second] = await rows(bot, user)
    assert second.result_urls[0] in body(link) and "Download it here (the link works for about a day)" in body(link)
    assert body(link).startswith("✅ Done: Suno Sounds") and link["media"] is None
    assert first.state == "completed"


async def test_kie_failure_is_refunded_with_request_id_and_retry_launches_again(bot: Bot) -> None:
    user = await bot.user(902, lang="en", balance_rub=100)
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, user, "a castle", "Check and launch")
    price = shown_price(summary)
    await bot.kie("POST", "/sandbox/faults", {"fail_next": 1})

    failure = await launch_and_wait(bot, user, summary, "🚀 Launch for", "returned to your balance")
    refunded = await bot.available(user)
    before = await version(bot, user)
    await tap(bot, user, failure, "🔁 Try again", "The result will arrive here", deleted_too=True)
    await wait_screen(bot, user, before, "Done: Nano Banana", within=10)
    await until(lambda: _all_settled(bot, user))

    first, second = await rows(bot, user)
    assert f"💰 {price / 100:.2f} ₽ returned to your balance." in body(failure)
    assert re.search(r"Request id: RQ-[2-9A-Z]{8}", body(failure))
    assert button_texts(failure) == ["🔁 Try again", "🏠 Menu"]
    assert refunded == 100_00
    assert (first.state, second.state) == ("failed", "completed") and second.inputs == first.inputs
    assert await bot.available(user) == 100_00 - price
    assert await bot.books_balanced()


async def test_free_model_within_its_limit_then_over_it_offers_a_paid_launch(bot: Bot) -> None:
    user = await bot.user(903, lang="en", balance_rub=10)
    await open_wizard(bot, user, "z-image", "🆓 Z-Image", "step 1 of 1")
    summary = await say(bot, user, "a lighthouse", "Check and launch")

    first = await launch_and_wait(bot, user, summary, "🚀 Launch for free")
    original = await wait_screen(bot, user, first["version"], "Original, uncompressed")
    second = await launch_and_wait(bot, user, original, "🔁 Repeat")
    second_original = await wait_screen(bot, user, second["version"], "Original, uncompressed")
    over = await tap(bot, user, second_original, "🔁 Repeat", "free uses of this model are spent")
    price = shown_price(over)
    paid = await launch_and_wait(bot, user, over, "🚀 Launch for")
    await until(lambda: _all_settled(bot, user))

    assert "🆓 Free. Left: 2 this hour, 5 today." in body(summary)
    assert "💳 free" in body(first) and "💳 free" in body(second)
    assert "the next free one opens in 1 h" in body(over) or "in 59 min" in body(over)
    assert body(over).count("free uses of this model are spent") == 1
    assert f"{price / 100:.2f} ₽ charged" in body(paid)
    assert [r.is_free for r in await rows(bot, user)] == [True, True, False]
    assert await bot.available(user) == 10_00 - price


async def test_change_settings_reopens_the_summary_and_the_result_chains_into_another_model(bot: Bot) -> None:
    user = await bot.user(904, lang="en", balance_rub=100)
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, user, "a <i>tiny</i> teapot", "Check and launch")
    photo = await launch_and_wait(bot, user, summary, "🚀 Launch for")
    original = await wait_screen(bot, user, photo["version"], "Original, uncompressed")

    again = await tap(bot, user, original, "⚙️ Change settings", "Check and launch")
    targets = await tap(bot, user, original, "➡️ Use this result in…", "What next with this picture?")
    chained = await tap(bot, user, targets, "Remove Background", "Check and launch")
    await launch_and_wait(bot, user, chained, "🚀 Launch", "Done: Remove Background")
    await until(lambda: _all_settled(bot, user))

    assert "Prompt: a <i>tiny</i> teapot" in body(again) and shown_price(again) == shown_price(summary)
    assert "⚙️ Settings" in button_texts(again)
    source, target = await rows(bot, user)
    assert "Photo: 1 file(s)" in body(chained)
    assert target.source_generation_id == source.id
    assert target.inputs["image"] == source.result_urls[0]
    assert [t["input"].get("image") for t in await kie_tasks(bot) if t["model"] == "recraft/remove-background"] == [
        source.result_urls[0]
    ]


async def test_buttons_naming_another_users_generation_are_refused(bot: Bot) -> None:
    owner = await bot.user(906, lang="en", balance_rub=100)
    stranger = await bot.user(907, lang="en", balance_rub=100)
    await open_wizard(bot, owner, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, owner, "a boat", "Check and launch")
    await launch_and_wait(bot, owner, summary, "🚀 Launch for")
    [gen_row] = await rows(bot, owner)
    gen = await bot.parts.generations.get(gen_row.id)
    assert gen is not None
    await open_menu(bot, stranger)
    # A result message of the owner's that reached the stranger (forwarded, or in a shared chat).
    markup = after_result(bot.parts.services.t, "en", gen, bot.parts.catalog)
    leaked = await bot.parts.bot.send_message(stranger, "someone's result", reply_markup=markup)

    answers = [
        await bot.tg.press(stranger, leaked.message_id, text=label, wait=5)
        for label in ("🔁 Repeat", "⚙️ Change settings", "➡️ Use this result in…")
    ]

    assert all("someone else's button" in str(a["answer"]) for a in answers), answers
    assert (await kie_stats(bot))["tasks"]["total"] == 1
    assert await bot.available(stranger) == 100_00


async def test_too_many_running_generations_are_explained_and_nothing_is_charged(bot: Bot) -> None:
    user = await bot.user(908, lang="en", balance_rub=100)
    await bot.kie("POST", "/sandbox/timing", {"model": "google/nano-banana", "duration": 3000})
    for prompt in ("one", "two"):
        await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
        summary = await say(bot, user, prompt, "Check and launch")
        await tap(bot, user, summary, "🚀 Launch for", "The result will arrive here", deleted_too=True)
    await until(lambda: _tasks_created(bot, 2))
    balance = await bot.available(user)
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, user, "three", "Check and launch")

    refused = await tap(bot, user, summary, "🚀 Launch for", "already have 2 generations running")

    assert any(text.startswith("🚀 Launch for") for text in button_texts(refused))
    assert await bot.available(user) == balance
    assert (await kie_stats(bot))["tasks"]["total"] == 2
    before = await version(bot, user)
    for task in await kie_tasks(bot):
        await bot.kie("POST", f"/sandbox/tasks/{task['taskId']}/complete", {"outcome": "success"})
    await until(lambda: _all_settled(bot, user))
    assert len([m for m in await bot.tg.messages(user) if m["version"] > before and "Done: Nano" in body(m)]) == 2


async def _tasks_created(bot: Bot, count: int) -> bool:
    return (await kie_stats(bot))["tasks"]["total"] >= count


async def _all_settled(bot: Bot, user: int) -> bool:
    return all(r.state in ("completed", "failed") for r in await rows(bot, user))
