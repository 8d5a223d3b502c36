"""Shared bits of the emulator's HTTP layer: the app key, Kie's envelope, broken answers, the base URL."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from aistudio.sandbox.kie.core import Emulator
from aistudio.sandbox.kie.intake import KieAnswer

EMULATOR = web.AppKey("kie_emulator", Emulator)

# What a proxy cutting an answer short looks like: valid start, no end.
BROKEN_JSON = '{"code": 200, "msg": "success", "data": {"taskId": "'


def emulator(request: web.Request) -> Emulator:
    return request.app[EMULATOR]


def ok(data: Any, msg: str = "success") -> web.Response:
    return web.json_response({"code": 200, "msg": msg, "data": data}, dumps=_dumps)


def envelope_error(answer: KieAnswer) -> web.Response:
    """Kie's error shape: usually HTTP 200 with the real code in the body."""
    return web.json_response(
        {"code": answer.code, "msg": answer.msg, "data": None}, status=answer.http_status, dumps=_dumps
    )


def server_error() -> web.Response:
    return web.json_response({"code": 500, "msg": "Server Error", "data": None}, status=500)


def broken_json() -> web.Response:
    return web.Response(text=BROKEN_JSON, content_type="application/json")


def base_url(request: web.Request) -> str:
    configured = emulator(request).config.public_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise KieAnswer(400, "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise KieAnswer(400, "Request body must be a JSON object")
    return body


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
