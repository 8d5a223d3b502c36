"""Every button reachable from the main menu is answered, shows a message or an edit, and never an error.

The walk is exhaustive (see walk_buttons): every (screen, button) once, every shown model's cards and first
wizard screens, and, for one model of each family, output and kind of step, the whole wizard (texts, numbers
and files typed or sent) through Launch to the result's buttons. Buttons naming a model are split between
two shards, so pytest-xdist spreads a language over both cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.harness import Bot
from tests.e2e.walk_buttons import walk_every_button
from tests.e2e.walk_support import deep_models, generate, keep_numbers_in, lift_flood_limit, model_shard

SHARDS = 2
# Russian (the bot's first language) is walked in `make test`; English walks the same callback data with other
# labels and runs with the long variants (AISTUDIO_SLOW=1): it adds ~3 min of CPU to a suite kept under 10 min.
LANGS = ["ru", "en"] if os.environ.get("AISTUDIO_SLOW") == "1" else ["ru"]


# The walk tests what users see, which does not depend on the database; SQLite only keeps `make test` short
# (each shard is ~1.5 min of CPU). The screens' queries run on PostgreSQL in the feature tests.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("lang", LANGS)
async def test_every_reachable_button_is_answered_with_a_screen_and_no_error(
    bot: Bot, lang: str, shard: int, tmp_path: Path
) -> None:
    lift_flood_limit(bot)  # the walker presses far faster than people; flood control has its own test
    user = await bot.user(3000, lang=lang, balance_rub=100_000)
    await generate(bot, user, "something for the history screens")  # so history has a line to open
    catalog = bot.parts.services.catalog
    keep_numbers_in({m.name.get(lang) for m in catalog.visible()})
    deep = [m for m in deep_models(catalog) if model_shard(m.id, SHARDS) == shard]
    names = {m.name.get(lang) for m in deep}

    walk = await walk_every_button(bot, lang, user=user, tmp=tmp_path, deep=names, shard=(shard, SHARDS))
    answered = {c["params"]["callback_query_id"] for c in await bot.tg.calls("answerCallbackQuery") if c["ok"]}
    print(
        f"\n{lang} shard {shard}: {len(walk.presses)} actions, {walk.nodes} (screen, button) nodes, "
        f"{len(walk.pressed)} distinct callback data, {len(walk.urls)} URLs, {walk.seconds:.0f} s; "
        f"launched {len(walk.launched)} models; not pressed: {dict(walk.excluded)}"
    )

    assert walk.problems == []
    assert all(p.query_id in answered for p in walk.presses if p.query_id), "every press shows up as answered"
    menu = {f"m:{item}" for item in ("video", "images", "edit", "upscale", "audio", "animate", "catalog", "free")}
    assert menu | {"m:balance", "m:history", "m:help", "m:lang", "hp:free", "hp:support"} <= walk.pressed
    assert any(data.startswith("hi:open:") for data in walk.pressed)
    assert {m.id for m in deep} <= walk.launched, "each deep model is walked through to its result"
    assert await bot.books_balanced()
