"""One whole generation in a real Chromium through the Telegram emulator's web chat: menu → Pictures →
Nano Banana → Start → prompt → Launch → the result photo in the chat (and a screenshot of it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser import OUTPUT, chromium
from tests.e2e.harness import running_bot
from tests.e2e.walk_support import lift_flood_limit

NANO_BANANA_PRICE = 380  # 4 credits at 95 ₽/$ and markup 2


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as instance:
        yield instance


def bot_messages(page: Page) -> Locator:
    return page.locator('[data-testid="message"][data-direction="out"]')


async def press(page: Page, label: str) -> None:
    """Click the newest inline button whose text contains `label`."""
    button = page.get_by_test_id("inline-button").filter(has_text=label).last
    await expect(button).to_be_visible()
    await button.click()


async def write(page: Page, text: str) -> None:
    await page.get_by_test_id("composer-input").fill(text)
    await page.get_by_test_id("send-button").click()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_generation_completes_in_the_web_chat(database_url: str, tmp_path: Path, browser: Browser) -> None:
    OUTPUT.mkdir(exist_ok=True)
    async with running_bot(database_url, tmp_path) as bot:
        lift_flood_limit(bot)
        user = await bot.user(4100, lang="en", balance_rub=100, name="Web")
        page = await browser.new_page(viewport={"width": 430, "height": 932})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(bot.telegram_url + "/")
        await page.get_by_test_id("user-select").select_option(str(user))

        await write(page, "/start")
        await expect(bot_messages(page).last).to_contain_text("Hi, Web")
        await press(page, "🖼 Pictures & banners")
        await press(page, "Nano Banana ·")
        await expect(bot_messages(page).last).to_contain_text("Needs:")
        await press(page, "▶️ Start")
        await expect(bot_messages(page).last).to_contain_text("step 1 of 1")
        await write(page, "a lighthouse at dawn, watercolor")
        await expect(bot_messages(page).last).to_contain_text("Check and launch")
        await press(page, "🚀 Launch for 3.80 ₽")

        result = bot_messages(page).filter(has=page.locator("img")).filter(has_text="Done")
        await expect(result).to_have_count(1, timeout=20_000)
        await expect(bot_messages(page).last).to_contain_text("Original", timeout=10_000)
        assert await result.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
        await bot_messages(page).last.scroll_into_view_if_needed()
        await page.screenshot(path=str(OUTPUT / "webchat-generation.png"), full_page=True)

        assert errors == []
        assert await bot.available(user) == 100_00 - NANO_BANANA_PRICE
        assert await bot.books_balanced()
        await page.close()
