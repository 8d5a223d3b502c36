"""The aiohttp application: Bot API at ``/bot<token>/<method>``, files, control API and the web chat."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from .config import DEFAULT_TOKEN, EmulatorConfig, RateLimits
from .control import EMULATOR_KEY, routes
from .emulator import Emulator
from .errors import NOT_FOUND, UNAUTHORIZED, BotApiError
from .methods import execute, read_params

log = logging.getLogger(__name__)
WEBCHAT_DIR = Path(__file__).with_name("webchat")
_JSON = "application/json"


def _api_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(payload, ensure_ascii=False), status=status, content_type=_JSON)


def _api_error(error: BotApiError) -> web.Response:
    return _api_response(error.payload(), error.code)


async def bot_api(request: web.Request) -> web.Response:
    """``/bot<token>/<method>``: one Bot API call, answered in Telegram's envelope."""
    emu = request.app[EMULATOR_KEY]
    if request.match_info["token"] != emu.config.token:
        return _api_error(UNAUTHORIZED)
    try:
        params, uploads = await read_params(request, emu.config.max_upload)
        result = await execute(emu, request.match_info["method"], params, uploads)
    except BotApiError as exc:
        return _api_error(exc)
    return _api_response({"ok": True, "result": result})


async def bot_file(request: web.Request) -> web.Response:
    """``/file/bot<token>/<file_path>``: download a file whose path getFile returned."""
    emu = request.app[EMULATOR_KEY]
    if request.match_info["token"] != emu.config.token:
        return _api_error(UNAUTHORIZED)
    stored = emu.files.by_path.get(request.match_info["path"])
    if stored is None or stored.size > emu.config.max_download:
        return _api_error(NOT_FOUND)
    return web.Response(body=stored.data, content_type=stored.mime_type)


async def webchat_index(request: web.Request) -> web.FileResponse:
    """The web chat page."""
    return web.FileResponse(WEBCHAT_DIR / "index.html")


def create_app(config: EmulatorConfig | None = None) -> web.Application:
    """Build the emulator application; its :class:`Emulator` is ``app[EMULATOR_KEY]``."""
    emulator = Emulator(config)
    # Bodies up to Telegram's upload limit (+ form overhead); larger multipart uploads get a Bot API 413.
    app = web.Application(client_max_size=emulator.config.max_upload + 1024 * 1024)
    app[EMULATOR_KEY] = emulator

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await emulator.start()
        yield
        await emulator.stop()

    async def on_shutdown(app: web.Application) -> None:
        emulator.shutdown()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(on_shutdown)
    app.router.add_route("*", "/bot{token}/{method}", bot_api)
    app.router.add_get("/file/bot{token}/{path:.+}", bot_file)
    app.router.add_routes(routes)
    app.router.add_get("/", webchat_index)
    app.router.add_static("/webchat/", WEBCHAT_DIR)
    return app


def emulator_of(app: web.Application) -> Emulator:
    """The emulator inside an app made by :func:`create_app` (for embedding and tests)."""
    return app[EMULATOR_KEY]


async def run_server(
    host: str,
    port: int,
    *,
    rate_limits: bool = False,
    token: str = DEFAULT_TOKEN,
    config: EmulatorConfig | None = None,
) -> None:
    """Serve the emulator on ``host:port`` until cancelled (embeddable in a larger asyncio program)."""
    config = config or EmulatorConfig(token=token, rate_limits=RateLimits(enabled=rate_limits))
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("Telegram sandbox on http://%s:%s (token %s)", host, port, config.token)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def run(host: str = "127.0.0.1", port: int = 8080, *, rate_limits: bool = False, token: str = DEFAULT_TOKEN) -> None:
    """Blocking entry point: run the emulator until Ctrl+C."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_server(host, port, rate_limits=rate_limits, token=token))
