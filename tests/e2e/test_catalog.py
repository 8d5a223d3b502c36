"""The catalog through the real bot: sections, paging, badges and prices, search, model cards."""

from __future__ import annotations

import pytest

from aistudio.catalog.models import Category
from tests.e2e.harness import Bot
from tests.e2e.journey_chat import body, button_texts, buttons, open_menu, relax_throttling, say, tap

NAV = ("◀️", "Next ▶️", "🏠 Menu", "Далее ▶️", "🏠 Меню")


@pytest.fixture(autouse=True)
def _tests_tap_faster_than_people(bot: Bot) -> None:
    relax_throttling(bot)


def model_buttons(message: dict) -> list[str]:
    return [text for text in button_texts(message) if not text.startswith(NAV)]


async def test_video_section_pages_eight_models_at_a_time_and_hides_disabled_ones(bot: Bot) -> None:
    user = await bot.user(601, lang="en")
    catalog = bot.parts.catalog
    wanted = {Category.TEXT_TO_VIDEO, Category.IMAGE_TO_VIDEO}
    expected = [m.name.en for m in catalog.visible() if m.category in wanted]
    disabled = {m.name.en for m in catalog if m.category in wanted and not (m.enabled and not m.hidden)}
    menu = await open_menu(bot, user)

    page = await tap(bot, user, menu, "🎬 Video for Reels/TikTok", "Page 1 of")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        names = model_buttons(page)
        assert len(names) == 8 or "Next ▶️" not in button_texts(page)
        seen.extend(names)
        if "Next ▶️" not in button_texts(page):
            break
        page = await tap(bot, user, page, "Next ▶️", f"Page {pages + 1} of")
        assert "◀️ Previous" in button_texts(page)
    back = await tap(bot, user, page, "◀️ Previous", f"Page {pages - 1} of")

    assert pages == -(-len(expected) // 8) and pages > 1
    assert [name.split(" · ")[0].lstrip("🆓🔥🆕 ") for name in seen] == expected
    assert not disabled & {name.split(" · ")[0].lstrip("🆓🔥🆕 ") for name in seen}
    assert all(" · from " in name and name.endswith(" ₽") for name in seen)
    assert any(name.startswith("🔥") for name in seen) and any("🆕" in name for name in seen)
    assert len(model_buttons(back)) == 8


async def test_search_by_name_ignores_case_and_missing_hyphens(bot: Bot) -> None:
    user = await bot.user(602, lang="en")
    menu = await open_menu(bot, user)
    await tap(bot, user, menu, "📚 All models", "Pick a category")

    shouting = await say(bot, user, "NANO BANANA", "Found for")
    squashed = await say(bot, user, "seedance2", "Found for")
    nothing = await say(bot, user, "<b>no such</b> model", "Nothing found")

    assert any(text.startswith("🔥 Nano Banana · from") for text in button_texts(shouting))
    assert any("Seedance 2.0 Fast" in text for text in button_texts(squashed))
    assert "“<b>no such</b> model”" in body(nothing)  # echoed as text, not markup
    assert not [e for e in nothing.get("entities", []) if e["type"] == "bold" and e["offset"] < 20]
    assert any("Text to image" in text for text in button_texts(nothing))


async def test_search_result_card_goes_back_to_the_results(bot: Bot) -> None:
    user = await bot.user(603, lang="ru")
    menu = await open_menu(bot, user)
    await tap(bot, user, menu, "🖼 Картинки и баннеры", "Выберите нейросеть")
    results = await say(bot, user, "z-image", "найдено")

    card = await tap(bot, user, results, "🆓 Z-Image", "Нужно: текст")
    back = await tap(bot, user, card, "◀️ Назад", "найдено")

    assert "💳 Цена: 🆓 бесплатно" in body(card)
    assert button_texts(back) == button_texts(results)


async def test_free_section_lists_exactly_the_free_models_with_the_badge(bot: Bot) -> None:
    user = await bot.user(604, lang="en")
    free_names = {bot.parts.catalog.get(i).name.en for i in bot.parts.services.free_model_ids}
    menu = await open_menu(bot, user)

    page = await tap(bot, user, menu, "🆓 Free", "Free models")

    names = model_buttons(page)
    assert {n.split(" · ")[0].lstrip("🆓🔥🆕 ") for n in names} == free_names
    assert all(n.startswith("🆓") and n.endswith("· free") for n in names)


async def test_model_card_shows_needs_price_time_and_leads_back_to_its_page(bot: Bot) -> None:
    user = await bot.user(605, lang="en")
    menu = await open_menu(bot, user)
    edits = await tap(bot, user, menu, "✏️ Edit a photo", "Pick a model")

    card = await tap(bot, user, edits, "🔥 Nano Banana Edit", "Needs:")
    back = await tap(bot, user, card, "◀️ Back", "Pick a model")

    text = body(card)
    assert "Needs: one or more photos and a text" in text
    assert "Price: from 3.80 ₽" in text and "Usually ready in ~20 s" in text and "Good for:" in text
    assert button_texts(card) == ["▶️ Start", "◀️ Back", "🏠 Menu"]
    assert button_texts(back) == button_texts(edits)


async def test_all_models_lists_categories_with_counts_and_back(bot: Bot) -> None:
    user = await bot.user(606, lang="en")
    tools = len(bot.parts.catalog.by_category(Category.TOOLS))
    menu = await open_menu(bot, user)
    categories = await tap(bot, user, menu, "📚 All models", "Pick a category")

    tool_list = await tap(bot, user, categories, f"🛠 Photo tools ({tools})", "Photo tools")
    again = await tap(bot, user, tool_list, "◀️ Back", "Pick a category")
    home = await tap(bot, user, again, "🏠 Menu", "Main menu")

    assert len(model_buttons(tool_list)) == tools
    assert any(b["callback_data"] == "m:balance" for b in buttons(home))
