"""The aiogram Bot, pointed at Telegram, a self-hosted Bot API server or the sandbox emulator."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.methods import Response, TelegramMethod
from aiohttp.payload import JsonPayload

from aistudio.config import TELEGRAM_DEFAULT_API_BASE, Settings

_PINNED: dict[Any, type[Any]] = {}


class Session(AiohttpSession):
    """aiogram's aiohttp session, sending JSON bodies and keeping alive the `Response[...]` model of every
    method it has answered.

    aiogram parses each answer as `Response[<the method's return type>]`, and pydantic caches such classes
    only weakly: once the garbage collector has freed one, the next call builds it again (several ms of
    schema building). That was ~5% of the bot's CPU under load (bench/webhook.py); a few dozen classes kept
    for the life of the process cost far less.
    """

    def build_form_data(self, bot: Bot, method: TelegramMethod[Any]) -> Any:
        """The request body: JSON (the Bot API takes it for every method), aiogram's multipart form only when
        the call uploads a file. aiogram's url-encoded form (every value JSON-dumped, then percent-quoted) cost
        about a sixth of each call's CPU; aiogram's `make_request` posts whichever body this returns."""
        files: dict[str, Any] = {}
        payload = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what aiogram's form leaves out
                payload[key] = prepared
        if files:
            return super().build_form_data(bot, method)
        return JsonPayload(payload, dumps=self.json_dumps)

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str) -> Any:
        returning = method.__returning__
        if returning not in _PINNED:
            _PINNED[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)


def create_bot(settings: Settings) -> Bot:
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    api = TelegramAPIServer.from_base(settings.telegram_api_base)
    session = Session(api=api) if settings.telegram_api_base != TELEGRAM_DEFAULT_API_BASE else Session()
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
