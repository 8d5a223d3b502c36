"""The app built in-process against the Telegram emulator (no Kie: nothing here launches a generation)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from aistudio.app import AppParts, build_app
from aistudio.config import load_settings
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from tests.ops.procs import KIE_KEY

WEBHOOK_SECRET = "ops-webhook-secret_0123456789"


@contextlib.asynccontextmanager
async def built_app(database_url: str, telegram_url: str, tmp_path: Path, **overrides: Any) -> AsyncIterator[AppParts]:
    settings = load_settings(
        **{
            "database_url": database_url,
            "telegram_bot_token": DEFAULT_TOKEN,
            "telegram_api_base": telegram_url,
            "kie_api_key": KIE_KEY,
            "kie_api_base": "http://127.0.0.1:9",
            "kie_upload_base": "http://127.0.0.1:9",
            "redis_url": None,
            "webhook_base_url": None,
            "webhook_secret": None,
            "fx_source_url": "http://127.0.0.1:9/fx",
            "fx_fallback_rub_per_usd": Decimal(95),
            **overrides,
        }
    )
    parts = await build_app(settings, results_dir=tmp_path / "results")
    try:
        yield parts
    finally:
        await parts.close()


def command_update(update_id: int, user_id: int, text: str = "/start", *, message_id: int | None = None) -> dict:
    """An update as Telegram sends it: a private message with a bot command from `user_id`."""
    user = {"id": user_id, "is_bot": False, "first_name": "Anna", "language_code": "en"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id or update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Anna"},
            "from": user,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }
