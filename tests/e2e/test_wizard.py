"""The wizard through the real bot: each kind of input, settings, bad input, summary, Launch guards."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from aistudio.billing.accounts import Operator
from aistudio.db.tables import generations
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import (
    body,
    button_texts,
    kie_stats,
    kie_tasks,
    open_wizard,
    png_bytes,
    relax_throttling,
    say,
    send_file,
    tap,
    version,
    wait_screen,
)


@pytest.fixture(autouse=True)
def _tests_tap_faster_than_people(bot: Bot) -> None:
    relax_throttling(bot)


async def test_photos_come_as_photo_or_document_and_wrong_or_huge_files_are_explained(bot: Bot, tmp_path: Path) -> None:
    user = await bot.user(801, lang="en", balance_rub=100)
    picture = tmp_path / "cat.png"
    picture.write_bytes(png_bytes())
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(1000))
    fake_png = tmp_path / "fake.png"
    fake_png.write_bytes(b"not really a picture" * 10)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_bytes() + bytes(21 * 1024 * 1024))
    await open_wizard(bot, user, "nano banana edit", "🔥 Nano Banana Edit", "step 1 of 2")
    photos_step = await say(bot, user, "put the cat on a beach", "step 2 of 2")

    wrong_type = await send_file(bot, user, pdf, "A photo is needed", kind="document", content_type="application/pdf")
    mislabeled = await send_file(bot, user, fake_png, "A photo is needed", kind="document", content_type="image/png")
    text = await say(bot, user, "here it is", "A photo is needed")
    too_big = await send_file(bot, user, huge, "over 20 MB", kind="document", content_type="image/png")
    first = await send_file(bot, user, picture, "Files received: 1", kind="photo")
    second = await send_file(bot, user, picture, "Files received: 2", kind="document", content_type="image/png")
    summary = await tap(bot, user, second, "✅ Done (2)", "Check and launch")

    assert "send a photo — as a photo or as a file" in body(photos_step)
    for reply in (wrong_type, mislabeled, text, too_big):
        assert "step 2 of 2" in body(reply) and "Files received" not in body(reply)
    assert "Telegram does not let bots download bigger files" in body(too_big)
    assert "✅ Done (1)" in button_texts(first)
    assert "Images: 2 file(s)" in body(summary) and "Price: 3.80 ₽" in body(summary)
    assert (await kie_stats(bot))["requests"].get("POST /api/file-stream-upload") == 2


async def test_options_are_buttons_and_typed_enum_values_and_numbers_are_checked(bot: Bot) -> None:
    user = await bot.user(802, lang="en", balance_rub=1000)
    await open_wizard(bot, user, "kling 2.6", "🔥 Kling 2.6 ·", "step 1 of 3")
    sound = await say(bot, user, "a drone shot over a lake", "step 2 of 3")
    duration = await tap(bot, user, sound, "Yes", "step 3 of 3")
    wrong_enum = await say(bot, user, "7", "allowed values")
    kling = await say(bot, user, "10", "Check and launch")

    await open_wizard(bot, user, "grok imagine video", "Grok Imagine Video ·", "step 1 of 2")
    typed_step = await say(bot, user, "a cat surfing", "type a number from 6 to 30")
    too_long = await say(bot, user, "45", "at most 30")
    not_number = await say(bot, user, "ten", "expected a number")
    grok = await say(bot, user, "12", "Check and launch")

    await open_wizard(bot, user, "seedance 2.0", "Seedance 2.0 ·", "step 1 of 2")
    buttons_step = await say(bot, user, "a dog", "step 2 of 2")
    seedance = await tap(bot, user, buttons_step, "8", "Check and launch")

    assert button_texts(sound)[:2] == ["Yes", "✓ No"]  # booleans as buttons, the default marked
    assert button_texts(duration)[:2] == ["✓ 5", "10"]  # enums as buttons
    assert "step 3 of 3" in body(wrong_enum) and "5, 10" in body(wrong_enum)
    assert "Sound: Yes" in body(kling) and "Duration, s: 10" in body(kling)
    assert "Price: 209 ₽" in body(kling)  # 220 credits × 0.005 $ × 95 ₽ × 2
    assert not [t for t in button_texts(typed_step) if t.isdigit()]  # a wide range is typed
    assert "step 2 of 2" in body(too_long) and "step 2 of 2" in body(not_number)
    assert "Duration, s: 12" in body(grok)
    assert button_texts(buttons_step)[:3] == ["4", "✓ 5", "6"] and "15" in button_texts(buttons_step)
    assert "Duration, s: 8" in body(seedance)


async def test_optional_setting_is_changed_under_settings_and_repriced(bot: Bot) -> None:
    user = await bot.user(804, lang="en", balance_rub=100)
    await open_wizard(bot, user, "flux 2 pro", "Flux 2 Pro", "step 1 of 1")
    summary = await say(bot, user, "a poster", "Check and launch")
    settings = await tap(bot, user, summary, "⚙️ Settings", "Settings — Flux 2 Pro")
    resolution = await tap(bot, user, settings, "Resolution: 1K", "Now: 1K")
    changed = await tap(bot, user, resolution, "2K", "Resolution: 2K")
    back = await tap(bot, user, changed, "✅ Done", "Check and launch")

    assert "Price: 4.75 ₽" in body(summary) and "Resolution: 1K" in body(summary)
    assert "• Resolution: 1K" in body(settings)
    assert "Resolution: 2K" in button_texts(changed)
    assert "Price: 6.65 ₽" in body(back) and "Resolution: 2K" in body(back)
    assert "Balance after launch: 93.35 ₽" in body(back)


async def test_bad_prompts_are_explained_and_html_emoji_and_rtl_are_echoed_safely(bot: Bot, tmp_path: Path) -> None:
    user = await bot.user(805, lang="en", balance_rub=100)
    picture = tmp_path / "p.png"
    picture.write_bytes(png_bytes())
    prompt = "<b>bold</b> & <script>x</script> 🐱‍👤🎨 مرحبا بالعالم"
    await open_wizard(bot, user, "z-image", "🆓 Z-Image", "step 1 of 1")

    too_long = await say(bot, user, "x" * 1001, "(now 1001)")
    blank = await say(bot, user, "   ", "empty")
    photo = await send_file(bot, user, picture, "A text is needed", kind="photo")
    summary = await say(bot, user, prompt, "Check and launch")
    before = await version(bot, user)
    await tap(bot, user, summary, "🚀 Launch for free", "Z-Image")
    await wait_screen(bot, user, before, "Done: Z-Image", within=10)

    for reply in (too_long, blank, photo):
        assert "step 1 of 1" in body(reply) and "Up to 1000 characters" in body(reply)
    assert f"Prompt: {prompt}" in body(summary)
    start = utf16(body(summary)[: body(summary).index(prompt)])
    end = start + utf16(prompt)
    assert not [e for e in summary["entities"] if e["offset"] < end and e["offset"] + e["length"] > start]
    assert [t["input"]["prompt"] for t in await kie_tasks(bot)] == [prompt]


async def test_back_walks_the_steps_to_the_card_and_cancel_leaves_the_wizard(bot: Bot) -> None:
    user = await bot.user(808, lang="en", balance_rub=100)
    await open_wizard(bot, user, "kling 2.6", "🔥 Kling 2.6 ·", "step 1 of 3")
    second = await say(bot, user, "a wave", "step 2 of 3")
    first = await tap(bot, user, second, "◀️ Back", "step 1 of 3")
    card = await tap(bot, user, first, "◀️ Back", "Needs: a text")
    again = await tap(bot, user, card, "▶️ Start", "step 1 of 3")
    cancelled = await tap(bot, user, again, "✖️ Cancel", "Cancelled")
    after = await say(bot, user, "a wave", "Pick a task")

    assert "Nothing was charged" in body(cancelled) and "🎬 Video for Reels/TikTok" in button_texts(cancelled)
    assert "step" not in body(after)


async def test_a_second_launch_press_while_launching_makes_one_generation(bot: Bot) -> None:
    user = await bot.user(809, lang="en", balance_rub=100)
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    summary = await say(bot, user, "a fox", "Check and launch")
    launch = next(b for b in summary["keyboard"]["rows"][0] if b["text"].startswith("🚀"))
    before = await version(bot, user)

    presses = await asyncio.gather(
        *(bot.tg.press(user, summary["message_id"], callback_data=launch["callback_data"], wait=5) for _ in range(3))
    )
    await wait_screen(bot, user, before, "Done: Nano Banana", within=10)

    answers = sorted(str(p["answer"]) for p in presses)
    assert all(p["answered"] for p in presses)
    assert sum("Launching…" in a for a in answers) == 1, answers
    assert all("Launching…" in a or "Already launching" in a or "outdated" in a for a in answers), answers
    assert (await kie_stats(bot))["tasks"]["total"] == 1
    assert await bot.available(user) == 100_00 - 380
    assert await bot.books_balanced()


async def test_short_balance_offers_top_up_and_a_launch_refused_for_funds_says_how_much(bot: Bot) -> None:
    user = await bot.user(810, lang="en", balance_rub=2)
    await open_wizard(bot, user, "nano banana", "🔥 Nano Banana ·", "step 1 of 1")
    short = await say(bot, user, "a fox", "Check and launch")

    await bot.parts.services.ledger.credit(f"e2e:{user}:more", user, 300, Operator.TOPUPS_MANUAL)
    refreshed = await tap(bot, user, short, "◀️ Back", "step 1 of 1")
    enough = await say(bot, user, "a fox", "Check and launch")
    await bot.parts.services.ledger.hold(f"e2e:{user}:drain", user, 400)  # spent elsewhere meanwhile
    refused = await tap(bot, user, enough, "🚀 Launch for 3.80 ₽", "2.80 ₽ short")

    assert "Your balance is 2 ₽ — 1.80 ₽ short" in body(short)
    assert "💳 Top up" in button_texts(short) and not [t for t in button_texts(short) if t.startswith("🚀")]
    assert next(b for b in short["keyboard"]["rows"][0])["callback_data"] == "m:balance"
    assert "step 1 of 1" in body(refreshed)
    assert "💳 Top up" in button_texts(refused)
    assert (await kie_stats(bot))["tasks"]["total"] == 0
    assert await generation_count(bot) == 0


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def generation_count(bot: Bot) -> int:
    async with bot.parts.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(generations))).scalar_one()
