"""Telegram Bot API emulator: a strict local stand-in for api.telegram.org with a control API and web chat.

Run it alone with ``python -m aistudio.sandbox.telegram --port 8080`` or embed it with
:func:`create_app` / :func:`run_server`; drive simulated users with :class:`SandboxTelegramClient`.
"""

from .config import DEFAULT_TOKEN, EmulatorConfig, RateLimits
from .server import create_app, emulator_of, run, run_server

__all__ = ["DEFAULT_TOKEN", "EmulatorConfig", "RateLimits", "create_app", "emulator_of", "run", "run_server"]
