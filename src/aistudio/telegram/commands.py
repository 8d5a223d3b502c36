"""The command menu Telegram shows next to the input field, in each language."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeDefault

from aistudio.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator

log = logging.getLogger(__name__)
# Telegram expects /paysupport and /terms in every bot that takes payments.
COMMANDS = ("start", "menu", "balance", "history", "help", "lang", "paysupport", "terms")


async def set_bot_commands(bot: Bot, t: Translator) -> None:
    """Register the command menu (`COMMANDS`) for every language (default: Russian)."""
    try:
        for lang in LANGUAGES:
            commands = [BotCommand(command=c, description=t(f"commands.{c}", lang)) for c in COMMANDS]
            code = None if lang == DEFAULT_LANGUAGE else lang
            await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=code)
    except TelegramAPIError as exc:  # the menu is a convenience; the bot works without it
        log.warning("could not register bot commands: %s", exc)
