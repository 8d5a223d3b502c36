"""`/healthz` (the process answers), `/readyz` (it can serve: database, schema, catalog) and `/metrics`."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.catalog.loader import Catalog
from aistudio.db.migrate import current_revision
from aistudio.ops.metrics import CONTENT_TYPE, Metrics
from aistudio.ops.state import RunState
from aistudio.ops.version import BuildInfo

DB_TIMEOUT_S = 3.0


@dataclass
class Readiness:
    """Checks what serving needs; each failed check gives a reason a person can act on."""

    engine: AsyncEngine
    catalog: Catalog
    head: str | None
    state: RunState
    revision_reader: Callable[[AsyncEngine], Awaitable[str | None]] = field(default=current_revision)

    async def check(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, str] = {}
        reasons: list[str] = []
        try:
            revision = await asyncio.wait_for(self.revision_reader(self.engine), DB_TIMEOUT_S)
        except Exception as exc:
            checks["database"] = "unreachable"
            checks["migrations"] = "unknown"
            reasons.append(f"database unreachable: {type(exc).__name__}")
        else:
            checks["database"] = "ok"
            if revision == self.head:
                checks["migrations"] = "ok"
            else:
                checks["migrations"] = f"at {revision or 'nothing'}, code needs {self.head}"
                reasons.append("migrations not at head: run `aistudio migrate`")
        visible = len(self.catalog.visible()) if self.catalog is not None else 0
        checks["catalog"] = f"{visible} models" if visible else "empty"
        if not visible:
            reasons.append("catalog not loaded (no enabled model)")
        if self.state.shutting_down:
            reasons.append("shutting down")
        body: dict[str, Any] = {"status": "ready" if not reasons else "not ready", "checks": checks}
        body.update(self.state.as_dict())
        if reasons:
            body["reason"] = "; ".join(reasons)
        return not reasons, body


def add_health_routes(
    app: web.Application,
    *,
    build: BuildInfo,
    readiness: Readiness,
    metrics: Metrics,
    refresh: Callable[[], Awaitable[None]] | None = None,
    metrics_token: str | None = None,
) -> None:
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", **build.as_dict()})

    async def readyz(request: web.Request) -> web.Response:
        ok, body = await readiness.check()
        return web.json_response(body, status=200 if ok else 503)

    async def metrics_page(request: web.Request) -> web.Response:
        if metrics_token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {metrics_token}".encode()):
                return web.Response(status=401, text="metrics need the bearer token (METRICS_TOKEN)\n")
        if refresh is not None:
            await refresh()
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
