"""The embeddable entry point the CLI and the demo use: run_server(host, port, rate_limits=...)."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import aiohttp
import pytest

from aistudio.sandbox.telegram import run_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_run_server_serves_the_given_token_until_cancelled() -> None:
    port = free_port()
    task = asyncio.create_task(run_server("127.0.0.1", port, rate_limits=True, token="4242:custom-token"))
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(2000):  # the server binds within a few ms; connection refused until then
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(f"{base}/bot4242:custom-token/getMe") as resp:
                    me = await resp.json()
                    break
            await asyncio.sleep(0.002)
        else:
            pytest.fail("run_server did not start")
        assert me["result"]["id"] == 4242
        async with http.get(f"{base}/sandbox/config") as resp:
            assert (await resp.json())["rate_limits"] is True
        async with http.get(f"{base}/") as resp:
            assert resp.status == 200 and "Telegram sandbox" in await resp.text()
        async with http.get(f"{base}/webchat/app.js") as resp:
            assert resp.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
