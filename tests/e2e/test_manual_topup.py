"""Manual transfer through the real bot: a receipt screenshot, OCR, the admins' review, the wallet credited once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.db.repo.users import upsert_user
from aistudio.db.tables import admin_audit, topup_requests
from aistudio.telegram.callbacks import AdminCb, MenuCb
from tests.e2e.harness import Bot, running_bot
from tests.e2e.journey_chat import (
    Message,
    body,
    button_texts,
    find_button,
    png_bytes,
    relax_throttling,
    say,
    send_file,
    tap,
    until,
    version,
    wait_screen,
)
from tests.payments.receipts import ENGLISH_RECEIPT, RUSSIAN_RECEIPT, render_receipt

ADMIN = 9001
DETAILS = "Card 2200 7000 1234 5678, Ivan I."


def transfer_settings(**extra: object) -> dict[str, object]:
    return {"manual_transfer_enabled": True, "manual_transfer_details": DETAILS, "admin_ids": (ADMIN,), **extra}


@pytest.fixture
async def bot(database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    async with running_bot(database_url, tmp_path, **transfer_settings()) as running:
        relax_throttling(running)
        await register_admin(running)
        yield running


async def register_admin(bot: Bot) -> None:
    await bot.tg.create_user(ADMIN, first_name="Boss", username="boss_admin", language_code="en")
    async with bot.parts.engine.begin() as conn:
        await upsert_user(conn, ADMIN, username="boss_admin", first_name="Boss", language="en")


async def open_transfer(bot: Bot, user: int, expect: str = "Top up by bank transfer") -> Message:
    """Press the top-up screen's 🧾 Bank transfer button (that screen belongs to the payments feature)."""
    before = await version(bot, user)
    button = InlineKeyboardButton(text="🧾 Bank transfer", callback_data=MenuCb(to="manual_topup").pack())
    await bot.parts.services.bot.send_message(user, "Top up", reply_markup=one_row(button))
    screen = await wait_screen(bot, user, before, "Top up")
    return await tap(bot, user, screen, "🧾 Bank transfer", expect)


def one_row(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(buttons)])


async def send_receipt(bot: Bot, user: int, image: Path, *, kind: str = "photo") -> tuple[Message, Message]:
    """The user sends a screenshot; returns their confirmation and the admin's review card."""
    admin_before = await version(bot, ADMIN)
    content_type = "application/octet-stream" if kind == "photo" else "image/png"
    received = await send_file(bot, user, image, "being checked", kind=kind, content_type=content_type)
    card = await wait_screen(bot, ADMIN, admin_before, "bank transfer top-up", within=10)
    return received, card


async def request_row(bot: Bot, request_id: int) -> sa.Row:
    async with bot.parts.engine.connect() as conn:
        return (await conn.execute(sa.select(topup_requests).where(topup_requests.c.id == request_id))).one()


def receipt_file(tmp_path: Path, name: str, lines: list[tuple[str, str]]) -> Path:
    path = tmp_path / name
    path.write_bytes(render_receipt(lines))
    return path


async def test_approve_credits_once_and_same_screenshot_again_is_flagged_then_rejected(
    bot: Bot, tmp_path: Path
) -> None:
    anna = await bot.user(5001, lang="en", name="Anna")
    boris = await bot.user(5002, lang="en", name="Boris")
    receipt = receipt_file(tmp_path, "receipt.png", RUSSIAN_RECEIPT)

    intro = await open_transfer(bot, anna)
    received, card = await send_receipt(bot, anna, receipt)
    user_before = await version(bot, anna)
    decided = await tap(bot, ADMIN, card, "✅ Approve 1500 ₽", "✅ Credited 1500 ₽ — @boss_admin")
    credited = await wait_screen(bot, anna, user_before, "+1500 ₽ added to your balance")

    assert DETAILS in body(intro) and "from 100 ₽" in body(intro)
    assert "request #1" in body(received) and "amount 1500 ₽" in body(received) and "4417260093" in body(received)
    assert "Amount: 1500 ₽" in body(card) and "Transaction id: 4417260093" in body(card)
    assert "Date on the receipt: 2025-03-14 18:42" in body(card) and "From: Anna" in body(card)
    assert button_texts(card) == ["✅ Approve 1500 ₽", "✏️ Edit amount", "❌ Reject"]
    assert button_texts(decided) == []
    assert "#1" in body(credited)
    assert await bot.available(anna) == 150_000

    # The same screenshot from someone else: flagged for the admin, and rejected with a reason.
    await open_transfer(bot, boris)
    _, duplicate = await send_receipt(bot, boris, receipt)
    asked = await tap(bot, ADMIN, duplicate, "❌ Reject", "type the reason")
    boris_before = await version(bot, boris)
    await say(bot, ADMIN, "Receipt already used", "the user has been told")
    told = await wait_screen(bot, boris, boris_before, "was rejected")

    assert "⚠️ Same screenshot as request #1" in body(duplicate)
    assert "Reject without a reason" in button_texts(asked)
    assert "Reason: Receipt already used" in body(told)
    assert (await request_row(bot, 2)).status == "rejected"
    assert await bot.available(boris) == 0
    assert await bot.books_balanced()


async def test_double_approve_credits_once_and_tells_who_decided(bot: Bot, tmp_path: Path) -> None:
    anna = await bot.user(5011, lang="en", name="Anna")
    await open_transfer(bot, anna)
    _, card = await send_receipt(bot, anna, receipt_file(tmp_path, "r.png", ENGLISH_RECEIPT))
    approve = find_button(card, "✅ Approve 2750.50 ₽")["callback_data"]

    first = await bot.tg.press(ADMIN, card["message_id"], callback_data=approve, wait=5)
    await until(lambda: _status_is(bot, 1, "approved"))
    # The same button on a copy of the card that was not refreshed yet (another admin's screen, a slow client).
    old_copy = one_row(InlineKeyboardButton(text="ok", callback_data=approve))
    leaked = await bot.parts.services.bot.send_message(ADMIN, "old copy", reply_markup=old_copy)
    second = await bot.tg.press(ADMIN, leaked.message_id, callback_data=approve, wait=5)

    assert first["answered"] and "Credited" in str(first)
    assert "already decided" in str(second) and "@boss_admin" in str(second)
    assert await bot.available(anna) == 275_050
    async with bot.parts.engine.connect() as conn:
        approvals = (await conn.execute(sa.select(sa.func.count()).select_from(admin_audit))).scalar_one()
    assert approvals == 1
    assert await bot.books_balanced()


async def test_stale_approve_after_another_admin_corrected_the_amount_credits_nothing(bot: Bot, tmp_path: Path) -> None:
    anna = await bot.user(5015, lang="en", name="Anna")
    await open_transfer(bot, anna)
    _, card = await send_receipt(bot, anna, receipt_file(tmp_path, "r.png", ENGLISH_RECEIPT))
    stale_approve = find_button(card, "✅ Approve 2750.50 ₽")["callback_data"]
    # Another admin's copy of the card, drawn before the correction (a slow client, a screen not refreshed).
    old_copy = one_row(InlineKeyboardButton(text="✅ Approve 2750.50 ₽", callback_data=stale_approve))
    leaked = await bot.parts.services.bot.send_message(ADMIN, "old copy", reply_markup=old_copy)

    await tap(bot, ADMIN, card, "✏️ Edit amount", "how much to credit")
    await say(bot, ADMIN, "1000", "credit 1000 ₽?")
    refused = await bot.tg.press(ADMIN, leaked.message_id, callback_data=stale_approve, wait=5)
    redrawn = await until_message(bot, ADMIN, leaked.message_id, "credit 1000 ₽?")
    between = (await request_row(bot, 1)).status, await bot.available(anna)
    await tap(bot, ADMIN, redrawn, "✅ Approve 1000 ₽", "Credited")

    assert "changed to 1000 ₽ by @boss_admin" in str(refused) and "review it again" in str(refused)
    assert button_texts(redrawn)[0] == "✅ Approve 1000 ₽"
    assert between == ("pending", 0)
    assert await bot.available(anna) == 100_000
    async with bot.parts.engine.connect() as conn:
        actions = (await conn.execute(sa.select(admin_audit.c.action).order_by(admin_audit.c.id))).scalars().all()
    assert actions == ["topup.amount_edit", "topup.approve"]
    assert await bot.books_balanced()


async def until_message(bot: Bot, chat: int, message_id: int, text: str) -> Message:
    """The bot's message `message_id` in `chat`, once it has been edited to contain `text`."""

    async def edited() -> bool:
        return any(m["message_id"] == message_id and text in body(m) for m in await bot.tg.bot_messages(chat))

    await until(edited)
    return next(m for m in await bot.tg.bot_messages(chat) if m["message_id"] == message_id)


async def _status_is(bot: Bot, request_id: int, status: str) -> bool:
    return (await request_row(bot, request_id)).status == status


async def test_unrecognised_amount_is_edited_then_approved_and_non_admins_cannot_decide(
    bot: Bot, tmp_path: Path
) -> None:
    anna = await bot.user(5021, lang="en", name="Anna")
    mallory = await bot.user(5022, lang="en", name="Mallory")
    picture = tmp_path / "blank.png"
    picture.write_bytes(png_bytes(320, 640))
    pdf = tmp_path / "receipt.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + bytes(1000))
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_bytes() + bytes(21 * 1024 * 1024))

    await open_transfer(bot, anna)
    as_text = await say(bot, anna, "I paid 1500", "not as text")
    as_pdf = await send_file(bot, anna, pdf, "A picture is needed", kind="document", content_type="application/pdf")
    too_big = await send_file(bot, anna, huge, "over 20 MB", kind="document", content_type="image/png")
    received, card = await send_receipt(bot, anna, picture, kind="document")

    assert all(button_texts(m) == ["✖️ Cancel"] for m in (as_text, as_pdf, too_big))
    assert "not recognised" in body(received)
    assert "Amount: ⚠️ not recognised" in body(card)
    assert button_texts(card) == ["✏️ Edit amount", "❌ Reject"]  # nothing to approve without an amount

    # A non-admin who somehow holds the card's buttons: the press is a stale button, the request is untouched.
    leaked = await bot.parts.services.bot.send_message(mallory, "card", reply_markup=_keyboard_of(card))
    reject = find_button(card, "❌ Reject")["callback_data"]
    pressed = await bot.tg.press(mallory, leaked.message_id, callback_data=reject, wait=5)
    # ... or an Approve forged with an amount of their choosing.
    forged = AdminCb(s="topups", a="ok", id="1", p=10_000_000).pack()
    forged_copy = await bot.parts.services.bot.send_message(
        mallory, "card", reply_markup=one_row(InlineKeyboardButton(text="✅ Approve", callback_data=forged))
    )
    approved = await bot.tg.press(mallory, forged_copy.message_id, callback_data=forged, wait=5)
    assert "outdated" in str(pressed) and "outdated" in str(approved)
    untouched = await request_row(bot, 1)
    assert (untouched.status, untouched.amount_kopecks, untouched.decided_by) == ("pending", None, None)
    assert await bot.available(mallory) == 0 and await bot.available(anna) == 0

    listing = await say(bot, ADMIN, "/topups", "Requests to check: 1")
    opened = await tap(bot, ADMIN, listing, "#1 · ? · Anna", "bank transfer top-up")

    await tap(bot, ADMIN, card, "✏️ Edit amount", "how much to credit")
    await say(bot, ADMIN, "lots", "That is not an amount")
    confirm = await say(bot, ADMIN, "1 200,50", "credit 1200.50 ₽?")
    refreshed = await wait_screen(bot, ADMIN, 0, "Amount: 1200.50 ₽")
    anna_before = await version(bot, anna)
    await tap(bot, ADMIN, confirm, "✅ Approve 1200.50 ₽", "Credited")
    await wait_screen(bot, anna, anna_before, "+1200.50 ₽ added")
    final = {m["message_id"]: m for m in await bot.tg.bot_messages(ADMIN)}

    assert "✅ Approve 1200.50 ₽" in button_texts(refreshed)
    for copy in (card, opened):  # the card and the copy opened from the list both show the outcome
        now = final[copy["message_id"]]
        assert "✅ Credited 1200.50 ₽ — @boss_admin" in body(now) and button_texts(now) == []
    assert await bot.available(anna) == 120_050
    async with bot.parts.engine.connect() as conn:
        actions = (await conn.execute(sa.select(admin_audit.c.action).order_by(admin_audit.c.id))).scalars().all()
    assert actions == ["topup.amount_edit", "topup.approve"]
    assert await bot.books_balanced()


def _keyboard_of(message: Message) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=b["text"], callback_data=b["callback_data"]) for b in row]
            for row in message["keyboard"]["rows"]]  # fmt: skip
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def test_repeat_payer_below_the_limit_is_approved_automatically(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, **transfer_settings(manual_auto_approve_below_rub=3000)) as bot:
        relax_throttling(bot)
        await register_admin(bot)
        anna = await bot.user(5031, lang="en", name="Anna")
        await open_transfer(bot, anna)
        _, first_card = await send_receipt(bot, anna, receipt_file(tmp_path, "ru.png", RUSSIAN_RECEIPT))
        first_pending = (await request_row(bot, 1)).status
        await tap(bot, ADMIN, first_card, "✅ Approve 1500 ₽", "Credited")

        await open_transfer(bot, anna)
        before = await version(bot, anna)
        _, second_card = await send_receipt(bot, anna, receipt_file(tmp_path, "en.png", ENGLISH_RECEIPT))
        told = await wait_screen(bot, anna, before, "+2750.50 ₽ added")

        assert first_pending == "pending"  # a first payment always waits for an admin
        assert (await request_row(bot, 2)).decided_by == 0
        assert "#2" in body(told)
        card_now = next(m for m in await bot.tg.bot_messages(ADMIN) if m["message_id"] == second_card["message_id"])
        assert "🤖 Credited 2750.50 ₽ automatically" in body(card_now) and button_texts(card_now) == []
        assert await bot.available(anna) == 150_000 + 275_050
        assert await bot.books_balanced()


async def test_disabled_transfer_says_so_and_admin_lists_pending_requests(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=(ADMIN,)) as bot:
        relax_throttling(bot)
        await register_admin(bot)
        anna = await bot.user(5041, lang="en")
        closed = await open_transfer(bot, anna, "not available")
        listing = await say(bot, ADMIN, "/topups", "No requests to check")
        stranger = await say(bot, anna, "/topups", "I don't know that command")

        assert "🏠 Menu" in button_texts(closed)
        assert "🔄 Refresh" in button_texts(listing)
        assert "No requests" not in body(stranger)
