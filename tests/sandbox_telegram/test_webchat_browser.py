"""The web chat in a real Chromium: create a user, talk to a polling aiogram bot, press a button, pay."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)
from playwright.async_api import Browser, Page, expect

from aistudio.sandbox.telegram.emulator import Emulator
from tests.browser import OUTPUT, chromium

from .conftest import png, polling

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> & <b>not bold</b>"


def echo_menu_router() -> Router:
    """/start → greeting with an inline button; the button answers and edits; /buy → Stars invoice."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Balance", callback_data="bal")]])
        await message.answer("<b>Welcome</b> to the <i>sandbox</i>!", parse_mode="HTML", reply_markup=markup)

    @router.callback_query(F.data == "bal")
    async def balance(query: CallbackQuery) -> None:
        await query.answer("Balance: 0 ₽")
        if isinstance(query.message, Message):
            await query.message.edit_text("Your balance is 0 ₽")

    @router.message(Command("buy"))
    async def buy(message: Message) -> None:
        await message.answer_invoice(
            title="Top up",
            description="100 credits",
            payload="topup",
            currency="XTR",
            prices=[LabeledPrice(label="100 credits", amount=50)],
        )

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        await message.answer("Thanks, credits added.")

    @router.message(Command("photo"))
    async def photo(message: Message) -> None:
        await message.answer_photo(
            BufferedInputFile(png(120, 80, "orange"), "art.png"), caption="Your <i>art</i>", parse_mode="HTML"
        )

    @router.message(F.photo)
    async def got_photo(message: Message) -> None:
        size = message.photo[-1] if message.photo else None
        await message.answer(f"Got a photo {size.width}x{size.height}" if size else "?")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")  # no parse_mode: the page must show it verbatim

    return router


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as instance:
        yield instance


async def open_chat(browser: Browser, base_url: str, width: int, height: int) -> tuple[Page, list[str]]:
    page = await browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(base_url + "/")
    return page, errors


async def test_web_chat_talks_to_a_polling_bot(browser: Browser, base_url: str, bot: Bot, emu: Emulator) -> None:
    OUTPUT.mkdir(exist_ok=True)
    async with polling(bot, emu, echo_menu_router()):
        page, errors = await open_chat(browser, base_url, 390, 844)
        # No users yet: the page opens the new-user form by itself.
        await page.get_by_test_id("new-user-name").fill("Anna")
        await page.get_by_test_id("new-user-id").fill("4242")
        await page.get_by_test_id("new-user-lang").select_option("ru")
        await page.get_by_test_id("create-user").click()
        await expect(page.get_by_test_id("new-user-form")).to_be_hidden()

        await page.get_by_test_id("composer-input").fill("/start")
        await page.get_by_test_id("send-button").click()
        welcome = page.locator('[data-testid="message"][data-direction="out"]').first
        await expect(welcome).to_contain_text("Welcome to the sandbox!")
        assert await welcome.locator("strong").inner_text() == "Welcome"  # HTML entity rendered as bold

        await welcome.get_by_test_id("inline-button").click()
        await expect(page.get_by_test_id("toast")).to_have_text("Balance: 0 ₽")
        await expect(welcome).to_contain_text("Your balance is 0 ₽")
        await expect(welcome).to_contain_text("edited")
        await page.screenshot(path=str(OUTPUT / "webchat-phone.png"), full_page=True)

        await page.get_by_test_id("composer-input").fill(HOSTILE)
        await page.get_by_test_id("send-button").click()
        echo = page.locator('[data-testid="message"][data-direction="out"]').last
        await expect(echo).to_contain_text("<b>not bold</b>")
        assert await echo.locator("img").count() == 0 and await echo.locator("b").count() == 0
        assert await page.title() != "pwned"
        assert errors == []

    transcript = emu.state.chats[4242]
    assert transcript.user.language_code == "ru"
    assert [m.data.get("text") for m in transcript.messages.values()][:2] == ["/start", "Your balance is 0 ₽"]


async def test_web_chat_pays_an_invoice_on_desktop(browser: Browser, base_url: str, bot: Bot, emu: Emulator) -> None:
    OUTPUT.mkdir(exist_ok=True)
    async with polling(bot, emu, echo_menu_router()):
        page, errors = await open_chat(browser, base_url, 1280, 800)
        await page.get_by_test_id("new-user-name").fill("Boris")
        await page.get_by_test_id("new-user-lang").select_option("en")
        await page.get_by_test_id("create-user").click()
        await page.get_by_test_id("composer-input").fill("/buy")
        await page.get_by_test_id("send-button").click()
        await page.get_by_test_id("pay-button").click()
        await expect(page.get_by_test_id("invoice-paid")).to_be_visible()
        await expect(page.get_by_test_id("service-message")).to_have_text("You paid 50 ★")
        await expect(page.locator('[data-testid="message"][data-direction="out"]').last).to_contain_text(
            "Thanks, credits added."
        )

        await page.get_by_test_id("composer-input").fill("/photo")
        await page.get_by_test_id("send-button").click()
        bot_photo = page.locator('[data-testid="message"][data-direction="out"] img')
        await expect(bot_photo).to_have_count(1)
        await expect(page.locator('[data-testid="message"][data-direction="out"]').last).to_contain_text("Your art")
        assert await bot_photo.evaluate("img => img.complete && img.naturalWidth") == 120

        await page.get_by_test_id("file-input").set_input_files(
            {"name": "me.png", "mimeType": "image/png", "buffer": png(30, 20, "green")}
        )
        await page.get_by_test_id("send-button").click()
        await expect(page.locator('[data-testid="message"][data-direction="in"] img')).to_have_count(1)
        await expect(page.locator('[data-testid="message"][data-direction="out"]').last).to_have_text(
            re.compile("Got a photo 30x20")
        )
        await page.screenshot(path=str(OUTPUT / "webchat-desktop.png"), full_page=True)
        assert errors == []
    calls: list[Any] = [c.method for c in emu.state.calls if c.method != "getUpdates"]
    assert "answerPreCheckoutQuery" in calls
