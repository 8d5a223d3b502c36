"""A dashboard app on its own (no bot): services with just what the pages use, a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.overrides import LiveCatalog, ModelOverrides
from aistudio.catalog.loader import load_catalog
from aistudio.config import load_settings
from aistudio.i18n import translator
from aistudio.web.admin import add_admin_routes
from aistudio.web.admin.auth import issue_login_token
from tests.web_admin.seed import NOW, add_user

ADMIN = 42


@dataclass
class Dashboard:
    client: TestClient
    services: Any
    clock: list[datetime]
    engine: AsyncEngine

    async def link_token(self, admin_id: int = ADMIN) -> str:
        ttl = self.services.settings.admin_link_ttl_seconds
        return await issue_login_token(self.engine, admin_id, ttl_seconds=ttl, now=self.clock[0])

    async def sign_in(self) -> str:
        """Signs in; returns the session's CSRF token (read from the page's logout form)."""
        response = await self.client.get("/admin/login", params={"token": await self.link_token()})
        assert response.status == 200
        page = await (await self.client.get("/admin/audit")).text()
        return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def later(self, **delta: float) -> None:
        self.clock[0] += timedelta(**delta)


@pytest.fixture
async def dash(engine: AsyncEngine) -> AsyncIterator[Dashboard]:
    await add_user(engine, ADMIN, created=NOW - timedelta(days=1), seen=NOW, first_name="Boss")
    overrides = ModelOverrides(engine)
    await overrides.refresh()
    services = SimpleNamespace(
        settings=load_settings(admin_ids=str(ADMIN), admin_link_ttl_seconds=600, admin_session_hours=2),
        engine=engine, t=translator(), catalog=LiveCatalog(load_catalog(), overrides), overrides=overrides,
    )  # fmt: skip
    clock = [NOW]
    app = web.Application()
    add_admin_routes(app, services, clock=lambda: clock[0])  # type: ignore[arg-type]
    async with TestClient(TestServer(app)) as client:
        yield Dashboard(client, services, clock, engine)
