"""The Kie emulator as an aiohttp application, and a runner for `aistudio sandbox kie --port 8081`."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import Any

from aiohttp import web

from aistudio.sandbox.kie import api, catalog_api, control, files
from aistudio.sandbox.kie.config import EmulatorConfig
from aistudio.sandbox.kie.core import Emulator
from aistudio.sandbox.kie.http import EMULATOR, emulator, envelope_error
from aistudio.sandbox.kie.intake import KieAnswer

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count Kie-facing requests per endpoint (the pipeline bench divides them by generations)."""
    if not request.path.startswith("/sandbox/"):
        route = request.match_info.route
        resource = route.resource
        name = resource.canonical if resource is not None else "<unmatched>"
        emulator(request).requests[f"{request.method} {name}"] += 1
    return await handler(request)


@web.middleware
async def check_api_key(request: web.Request, handler: Handler) -> web.StreamResponse:
    """`/api/...` needs `Authorization: Bearer <key>`; Kie answers a wrong key with code 401 in the body."""
    if request.path.startswith("/api/"):
        expected = emulator(request).config.api_key
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        valid = scheme.lower() == "bearer" and bool(token)
        if valid and expected is not None:
            valid = hmac.compare_digest(token.encode(), expected.encode())
        if not valid:
            return envelope_error(KieAnswer(401, "You do not have access permissions"))
    return await handler(request)


def create_app(config: EmulatorConfig | None = None, **overrides: Any) -> web.Application:
    """Build the emulator app; `overrides` are `EmulatorConfig` fields (used when `config` is None)."""
    if config is None:
        config = EmulatorConfig(**overrides)
    elif overrides:
        raise TypeError("pass either a config or keyword overrides, not both")
    app = web.Application(middlewares=[count_requests, check_api_key], client_max_size=config.max_upload_bytes + 65536)
    app[EMULATOR] = Emulator(config)

    async def close_emulator(app: web.Application) -> None:
        await app[EMULATOR].close()

    app.on_cleanup.append(close_emulator)
    api.add_routes(app)
    files.add_routes(app)
    catalog_api.add_routes(app)
    control.add_routes(app)
    return app


async def run_server(host: str = "127.0.0.1", port: int = 8081, **config: Any) -> None:
    """Serve the emulator until cancelled. `config` takes `EmulatorConfig` fields."""
    known = {f.name for f in fields(EmulatorConfig)}
    unknown = set(config) - known
    if unknown:
        raise TypeError(f"unknown emulator settings: {sorted(unknown)}")
    app = create_app(EmulatorConfig(**config))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("Kie emulator on http://%s:%d (api key %r)", host, port, app[EMULATOR].config.api_key)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
