"""The bot's session: JSON bodies for plain calls, multipart only for uploads, the same values aiogram sends."""

from __future__ import annotations

from typing import Any

from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web
from aiohttp.test_utils import TestServer

from aistudio.config import Settings
from aistudio.telegram.bot import create_bot

TOKEN = "123456:AAsession-test-token-0123456789abcdefg"


async def _recording_api(seen: list[tuple[str, str, Any]]) -> TestServer:
    async def method(request: web.Request) -> web.Response:
        name = request.match_info["method"]
        if request.content_type == "application/json":
            seen.append((name, request.content_type, await request.json()))
        else:
            seen.append((name, request.content_type, None))
        result: Any = True
        if name in ("sendMessage", "sendPhoto"):
            result = {"message_id": 7, "date": 0, "chat": {"id": 42, "type": "private"}, "text": "hi"}
        return web.json_response({"ok": True, "result": result})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", method)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_plain_calls_go_as_json_and_uploads_as_multipart() -> None:
    seen: list[tuple[str, str, Any]] = []
    server = await _recording_api(seen)
    settings = Settings(telegram_bot_token=TOKEN, telegram_api_base=str(server.make_url("")).rstrip("/"))
    bot = create_bot(settings)
    try:
        markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]])
        sent = await bot.send_message(42, "hi", reply_markup=markup)
        await bot.answer_pre_checkout_query("q1", ok=False, error_message="expired")
        await bot.send_photo(42, BufferedInputFile(b"\x89PNG fake", filename="a.png"))
    finally:
        await bot.session.close()
        await server.close()

    assert sent.message_id == 7
    (m1, t1, body1), (m2, t2, body2), (m3, t3, _) = seen
    assert (m1, t1) == ("sendMessage", "application/json")
    assert body1["chat_id"] == 42 and body1["text"] == "hi" and body1["parse_mode"] == "HTML"
    assert body1["reply_markup"] == {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    assert body1["link_preview_options"] == {"is_disabled": True}
    # False is a value the Bot API needs (a refused checkout), not an absent one
    assert (m2, t2) == ("answerPreCheckoutQuery", "application/json")
    assert body2 == {"pre_checkout_query_id": "q1", "ok": False, "error_message": "expired"}
    assert (m3, t3) == ("sendPhoto", "multipart/form-data")
