"""The aiogram Bot, pointed at Telegram, a self-hosted Bot API server or the sandbox emulator."""

from __future__ import annotations

from typing import Any, cast

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiohttp import ClientError

from aistudio.config import TELEGRAM_DEFAULT_API_BASE, Settings

_PINNED: dict[Any, type[Any]] = {}


class Session(AiohttpSession):
    """aiogram's aiohttp session, keeping alive the `Response[...]` model of every method it has answered.

    aiogram parses each answer as `Response[<the method's return type>]`, and pydantic caches such classes
    only weakly: once the garbage collector has freed one, the next call builds it again (several ms of
    schema building). That was ~5% of the bot's CPU under load (bench/webhook.py); a few dozen classes kept
    for the life of the process cost far less.
    """

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:  # noqa: ASYNC109 (aiogram's signature)
        """Send the method as a JSON body (the Bot API takes JSON for every method), multipart only when it
        uploads a file: aiogram's url-encoded form (every value JSON-dumped, then percent-quoted) cost about
        a sixth of each call's CPU."""
        files: dict[str, Any] = {}
        payload = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what aiogram's form leaves out
                payload[key] = prepared
        if files:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout if timeout is None else timeout,
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(bot=bot, method=method, status_code=resp.status, content=raw_result)
        return cast(Any, response.result)

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
