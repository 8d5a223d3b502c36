"""Showing the next screen of a flow: edit the pressed message in place, or send a new one when it can't be."""

from __future__ import annotations

import logging

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)


async def show_screen(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> Message | None:
    """Replace the pressed message with `text`; a media message (a result) keeps its content and gets a new one.

    Returns the message now showing the screen.
    """
    message = query.message
    if not isinstance(message, Message):
        return None
    if message.text is None:
        return await message.answer(text, reply_markup=markup)
    try:
        edited = await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        if "message is not modified" in str(exc):  # a double press shows the same screen again
            return message
        if "message to edit not found" in str(exc):
            return await message.answer(text, reply_markup=markup)
        raise
    return edited if isinstance(edited, Message) else message


async def drop_keyboard(message: Message | None) -> None:
    """Take the buttons off an old screen so they can't be pressed again; best effort."""
    if message is None or message.reply_markup is None:
        return
    try:
        await message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest as exc:
        log.debug("could not drop the keyboard of %s: %s", message.message_id, exc)
