"""The web dashboard in Chromium, signed in through `/web` in the Telegram emulator: the overview's charts,
a request id search, switching a model off, a CSV export. Screenshots go to test-output/ (git-ignored)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from aistudio.db.sql import utcnow
from tests.browser import OUTPUT, chromium
from tests.e2e.harness import Bot, running_bot
from tests.e2e.walk_support import lift_flood_limit
from tests.web_admin.seed import add_generation

ADMIN, NOBODY = 4200, 4201
MODEL = "google/nano-banana"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as instance:
        yield instance


def web_url(bot: Bot) -> str:
    """The bot's own web server in the harness (the one Kie calls back)."""
    return bot.parts.generations.pipeline.settings.callback_base_url


async def login_link(bot: Bot, user_id: int) -> str:
    await bot.tg.send_text(user_id, "/web")
    reply = await bot.tg.wait_for_reply(user_id)
    token = re.search(r"/admin/login\?token=([\w-]+)", reply["text"])
    assert token is not None, reply["text"]
    return f"{web_url(bot)}/admin/login?token={token.group(1)}"


async def shot(page: Page, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"admin-web-{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


async def test_web_for_a_non_admin_is_an_unknown_command(database_url: str, tmp_path: Path) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=str(ADMIN)) as bot:
        lift_flood_limit(bot)
        await bot.user(NOBODY, lang="en")
        await bot.tg.send_text(NOBODY, "/web")
        reply = await bot.tg.wait_for_reply(NOBODY)

        assert "token=" not in reply["text"]
        assert reply["text"] == bot.parts.services.t("common.unknown_command", "en")


async def test_an_admin_signs_in_from_telegram_and_works_in_the_dashboard(
    database_url: str, tmp_path: Path, browser: Browser
) -> None:
    async with running_bot(database_url, tmp_path, admin_ids=str(ADMIN)) as bot:
        lift_flood_limit(bot)
        await bot.user(ADMIN, lang="ru", balance_rub=50, name="Boss")
        now = utcnow()
        await add_generation(bot.parts.engine, "RQ-WEBTEST7", user_id=ADMIN, model=MODEL, state="completed",
                             credits="4", fx="95", at=now, charged=380)  # fmt: skip
        await add_generation(bot.parts.engine, "RQ-OTHER234", user_id=ADMIN, model=MODEL, state="failed",
                             credits="4", fx="95", at=now, error_class="generation_failed")  # fmt: skip
        link = await login_link(bot, ADMIN)
        page = await browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        await page.goto(link)
        await expect(page.get_by_test_id("charts")).to_be_visible()
        for chart in ("revenue", "generations", "models", "margin"):
            await expect(page.get_by_test_id(f"chart-{chart}").locator("svg")).to_be_visible()
        await expect(page.get_by_test_id("generations-today")).to_have_text("2")
        assert await page.locator("svg.chart rect").count() > 0
        await shot(page, "overview")

        await page.get_by_test_id("nav-generations").click()
        await page.get_by_test_id("rq-search").fill("rq-webtest7")
        await page.get_by_test_id("apply-filters").click()
        await expect(page.get_by_test_id("generation-row")).to_have_count(1)
        await expect(page.get_by_test_id("generation-row")).to_contain_text("RQ-WEBTEST7")
        await shot(page, "search")

        async with page.expect_download() as download_info:
            await page.get_by_test_id("export-generations").click()
        downloaded = Path(await (await download_info.value).path())
        csv_text = await asyncio.to_thread(downloaded.read_text, encoding="utf-8")
        assert [line.split(",")[1] for line in csv_text.splitlines()] == ["request_id", "RQ-WEBTEST7"]

        await page.get_by_test_id("nav-models").click()
        row = page.locator(f'[data-model="{MODEL}"]')
        await expect(row.get_by_test_id("model-state")).to_have_text("вкл")
        await row.get_by_test_id("toggle").click()
        await expect(page.locator(f'[data-model="{MODEL}"]').get_by_test_id("model-state")).to_have_text("выкл")
        assert bot.parts.services.overrides.is_switched_off(MODEL)
        await shot(page, "models")

        await page.get_by_test_id("nav-audit").click()
        await expect(page.get_by_test_id("audit-row").first).to_contain_text("model.disable")
        await page.get_by_test_id("logout").click()
        await page.goto(link)  # the link worked once
        await expect(page.get_by_test_id("message")).to_contain_text("уже использована")
        await shot(page, "reused-link")
        assert errors == []
        await page.close()
