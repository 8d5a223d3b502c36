"""Operations tests: real `aistudio run` processes, the Telegram emulator, PostgreSQL.

Long variants are marked `slow` and run only with AISTUDIO_SLOW=1 (e.g. `make test PYTEST_ARGS=...` with the
variable set); the short variants always run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.config import DEFAULT_TOKEN
from aistudio.sandbox.telegram.config import EmulatorConfig as TelegramConfig
from aistudio.sandbox.telegram.server import create_app as create_telegram_app
from tests.ops.procs import Emulator

RUN_SLOW = os.environ.get("AISTUDIO_SLOW") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if RUN_SLOW:
        return
    here = os.path.dirname(__file__)
    keep, slow = [], []
    for item in items:
        in_ops = str(item.path).startswith(here)
        (slow if in_ops and item.get_closest_marker("slow") else keep).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep


@pytest.fixture
async def telegram() -> AsyncIterator[Emulator]:
    """The Telegram Bot API emulator on a free port, and a client to act as users."""
    server = TestServer(create_telegram_app(TelegramConfig(token=DEFAULT_TOKEN)), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    client = SandboxTelegramClient(url)
    try:
        yield Emulator(url, client)
    finally:
        await client.aclose()
        await server.close()
