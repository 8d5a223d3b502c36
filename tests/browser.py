"""Headless Chromium for browser tests: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_FOUND = Path(CHROMIUM).exists()
OUTPUT = Path(__file__).resolve().parents[1] / "test-output"  # screenshots; git-ignored


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A launched browser; fails (never skips) when Chromium is missing — `make test` installs it."""
    if not CHROMIUM_FOUND:
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `bash scripts/system-deps.sh` (or `make system-deps`), "
            "or set CHROMIUM_PATH"
        )
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()
