"""`POST /kie/callback/{generation_id}/{token}`: Kie tells us a task ended.

The answer goes back at once (Kie waits about 15 s); confirming with Kie and delivering happen after.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from aistudio.generation.service import GenerationService

CALLBACK_PATH = "/kie/callback/{generation_id}/{token}"


def add_kie_callback_route(app: web.Application, service: Callable[[], GenerationService]) -> None:
    """Register the route; `service` returns the process's generation service."""

    async def handle(request: web.Request) -> web.Response:
        try:
            generation_id = int(request.match_info["generation_id"])
        except ValueError:
            return web.json_response({"code": 404, "msg": "unknown generation"}, status=404)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"code": 400, "msg": "body is not JSON"}, status=400)
        answer = await service().on_callback(generation_id, request.match_info["token"], request.headers, body)
        return web.json_response({"code": answer.status, "msg": answer.reason}, status=answer.status)

    app.router.add_post(CALLBACK_PATH, handle)
