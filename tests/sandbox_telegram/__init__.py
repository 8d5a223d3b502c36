"""Tests of the Telegram Bot API emulator, its control API and web chat."""
