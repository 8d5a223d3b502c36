"""Sending, formatting, keyboards, edits, deletions, copies and forwards, with Telegram's errors."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from aistudio.sandbox.telegram.client import SandboxTelegramClient
from aistudio.sandbox.telegram.errors import MESSAGE_NOT_MODIFIED

from .conftest import USER_ID, png

pytestmark = pytest.mark.usefixtures("user")


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons]]
    )


async def test_send_message_assigns_increasing_ids_shared_with_the_user(bot: Bot, tg: SandboxTelegramClient) -> None:
    first = await bot.send_message(USER_ID, "one")
    sent = await tg.send_text(USER_ID, "two")
    third = await bot.send_message(USER_ID, "three")
    assert (first.message_id, sent["message_id"], third.message_id) == (1, 2, 3)
    assert first.chat.id == USER_ID and first.from_user and first.from_user.is_bot


async def test_html_is_parsed_into_entities(bot: Bot) -> None:
    message = await bot.send_message(
        USER_ID,
        '<b>Bold</b> &lt;tag&gt; <a href="https://example.com">link</a> 💎<i>x</i>',
        parse_mode="HTML",
    )
    assert message.text == "Bold <tag> link 💎x"
    entities = [(e.type, e.offset, e.length) for e in message.entities or []]
    # The emoji takes two UTF-16 code units, so the italic entity starts at 18, not 17.
    assert entities == [("bold", 0, 4), ("text_link", 11, 4), ("italic", 18, 1)]


async def test_unescaped_html_fails_like_telegram(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match='can\'t parse entities: Unsupported start tag "" at byte offset 2'):
        await bot.send_message(USER_ID, "1 < 2", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Can\'t find end tag corresponding to start tag "b"'):
        await bot.send_message(USER_ID, "<b>open", parse_mode="HTML")


async def test_markdown_v2_requires_escaping_reserved_characters(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(USER_ID, "Price 1.5", parse_mode="MarkdownV2")
    message = await bot.send_message(USER_ID, "*Price* 1\\.5", parse_mode="MarkdownV2")
    assert message.text == "Price 1.5"
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [("bold", 0, 5)]


async def test_unsupported_parse_mode_is_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="unsupported parse_mode"):
        await bot.send_message(USER_ID, "x", parse_mode="BBCode")


async def test_text_longer_than_4096_is_too_long(bot: Bot) -> None:
    assert (await bot.send_message(USER_ID, "x" * 4096)).text == "x" * 4096
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER_ID, "x" * 4097)


async def test_length_is_counted_after_markup_is_parsed(bot: Bot) -> None:
    message = await bot.send_message(USER_ID, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(message.text or "") == 4096


async def test_whitespace_only_text_is_empty(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER_ID, "   \n ")


async def test_callback_data_over_64_bytes_is_invalid(bot: Bot) -> None:
    await bot.send_message(USER_ID, "ok", reply_markup=keyboard(("A", "x" * 64)))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "too long", reply_markup=keyboard(("A", "я" * 33)))


async def test_inline_button_without_action_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Nothing")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed in the inline keyboard"):
        await bot.send_message(USER_ID, "x", reply_markup=markup)


async def test_localhost_url_button_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Pay", url="http://localhost:8080")]])
    with pytest.raises(TelegramBadRequest, match="BUTTON_URL_INVALID"):
        await bot.send_message(USER_ID, "x", reply_markup=markup)


async def test_reply_keyboard_is_tracked_per_chat(bot: Bot, tg: SandboxTelegramClient) -> None:
    markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Balance"), KeyboardButton(text="Help")]])
    message = await bot.send_message(USER_ID, "menu", reply_markup=markup)
    assert message.reply_markup is None  # Telegram never echoes reply keyboards
    transcript = await tg.transcript(USER_ID)
    assert [b["text"] for b in transcript["reply_keyboard"]["rows"][0]] == ["Balance", "Help"]
    assert transcript["messages"][-1]["keyboard"]["type"] == "reply"
    await bot.send_message(USER_ID, "bye", reply_markup=ReplyKeyboardRemove())
    assert (await tg.transcript(USER_ID))["reply_keyboard"] is None


async def test_reply_to_a_missing_message_fails(bot: Bot, tg: SandboxTelegramClient) -> None:
    sent = await tg.send_text(USER_ID, "question")
    answer = await bot.send_message(USER_ID, "answer", reply_parameters=ReplyParameters(message_id=sent["message_id"]))
    assert answer.reply_to_message and answer.reply_to_message.text == "question"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(USER_ID, "x", reply_parameters=ReplyParameters(message_id=999))


async def test_edit_message_text_sets_edit_date_and_keeps_given_keyboard(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(USER_ID, "v1", reply_markup=keyboard(("A", "a")))
    edited = await bot.edit_message_text(
        "v2", chat_id=USER_ID, message_id=message.message_id, reply_markup=keyboard(("B", "b"))
    )
    assert not isinstance(edited, bool)
    assert edited.text == "v2" and edited.edit_date is not None
    view = (await tg.messages(USER_ID))[-1]
    assert view["edited"] is True and view["text"] == "v2"
    assert view["keyboard"]["rows"] == [[{"text": "B", "callback_data": "b"}]]


async def test_edit_without_reply_markup_removes_the_inline_keyboard(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(USER_ID, "v1", reply_markup=keyboard(("A", "a")))
    edited = await bot.edit_message_text("v2", chat_id=USER_ID, message_id=message.message_id)
    assert not isinstance(edited, bool) and edited.reply_markup is None
    assert (await tg.messages(USER_ID))[-1]["keyboard"] is None


async def test_identical_edit_is_not_modified(bot: Bot) -> None:
    message = await bot.send_message(USER_ID, "<b>same</b>", parse_mode="HTML", reply_markup=keyboard(("A", "a")))
    with pytest.raises(TelegramBadRequest) as info:
        await bot.edit_message_text(
            "<b>same</b>",
            chat_id=USER_ID,
            message_id=message.message_id,
            parse_mode="HTML",
            reply_markup=keyboard(("A", "a")),
        )
    assert info.value.message == f"Bad Request: {MESSAGE_NOT_MODIFIED}"
    # Same text without the keyboard is a modification (the keyboard goes away).
    await bot.edit_message_text("<b>same</b>", chat_id=USER_ID, message_id=message.message_id, parse_mode="HTML")


async def test_editing_a_missing_or_foreign_message_fails(bot: Bot, tg: SandboxTelegramClient) -> None:
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=77)
    sent = await tg.send_text(USER_ID, "mine")
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=sent["message_id"])


async def test_edit_text_of_a_photo_message_fails(bot: Bot) -> None:
    photo = await bot.send_photo(USER_ID, BufferedInputFile(png(), "p.png"), caption="c")
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=photo.message_id)


async def test_edit_reply_markup_changes_only_the_keyboard(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(USER_ID, "pick", reply_markup=keyboard(("A", "a")))
    edited = await bot.edit_message_reply_markup(
        chat_id=USER_ID, message_id=message.message_id, reply_markup=keyboard(("B", "b"))
    )
    assert not isinstance(edited, bool) and edited.text == "pick"
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(
            chat_id=USER_ID, message_id=message.message_id, reply_markup=keyboard(("B", "b"))
        )
    await bot.edit_message_reply_markup(chat_id=USER_ID, message_id=message.message_id)
    assert (await tg.messages(USER_ID))[-1]["keyboard"] is None


async def test_edit_caption_and_its_length_limit(bot: Bot) -> None:
    photo = await bot.send_photo(USER_ID, BufferedInputFile(png(), "p.png"), caption="old")
    edited = await bot.edit_message_caption(chat_id=USER_ID, message_id=photo.message_id, caption="new")
    assert not isinstance(edited, bool) and edited.caption == "new" and edited.photo
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.edit_message_caption(chat_id=USER_ID, message_id=photo.message_id, caption="c" * 1025)
    text = await bot.send_message(USER_ID, "plain")
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=USER_ID, message_id=text.message_id, caption="x")


async def test_delete_message_marks_it_deleted_once(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_message(USER_ID, "temporary")
    assert await bot.delete_message(USER_ID, message.message_id) is True
    view = (await tg.messages(USER_ID))[-1]
    assert view["deleted"] is True and view["text"] == "temporary"
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER_ID, message.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=message.message_id)


async def test_bot_can_delete_the_users_message(bot: Bot, tg: SandboxTelegramClient) -> None:
    sent = await tg.send_text(USER_ID, "oops")
    assert await bot.delete_messages(USER_ID, [sent["message_id"], 999]) is True
    assert (await tg.messages(USER_ID))[0]["deleted"] is True


async def test_copy_message_returns_only_the_new_id(bot: Bot, tg: SandboxTelegramClient) -> None:
    sent = await tg.send_text(USER_ID, "copy me")
    copied = await bot.copy_message(USER_ID, USER_ID, sent["message_id"], reply_markup=keyboard(("A", "a")))
    view = (await tg.messages(USER_ID))[-1]
    assert view["message_id"] == copied.message_id and view["direction"] == "out"
    assert view["text"] == "copy me" and view["keyboard"]["type"] == "inline"
    assert "forward_origin" not in view


async def test_forward_message_names_the_original_sender(bot: Bot, tg: SandboxTelegramClient) -> None:
    sent = await tg.send_text(USER_ID, "forward me")
    forwarded = await bot.forward_message(USER_ID, USER_ID, sent["message_id"])
    assert forwarded.text == "forward me"
    assert forwarded.forward_origin is not None and forwarded.forward_origin.type == "user"
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.forward_message(USER_ID, USER_ID, 999)


async def test_user_commands_carry_bot_command_entities(tg: SandboxTelegramClient, bot: Bot) -> None:
    await tg.send_text(USER_ID, "/start ref_42")
    updates = await bot.get_updates()
    message = updates[-1].message
    assert message is not None and message.text == "/start ref_42"
    assert [(e.type, e.offset, e.length) for e in message.entities or []] == [("bot_command", 0, 6)]


async def test_transcript_lists_both_directions_with_flags(bot: Bot, tg: SandboxTelegramClient) -> None:
    await tg.send_text(USER_ID, "hi")
    reply = await bot.send_message(USER_ID, "hello", reply_markup=keyboard(("Go", "go")))
    await bot.edit_message_text(
        "hello!", chat_id=USER_ID, message_id=reply.message_id, reply_markup=keyboard(("Go", "go"))
    )
    messages: list[dict[str, Any]] = await tg.messages(USER_ID)
    assert [(m["direction"], m["text"]) for m in messages] == [("in", "hi"), ("out", "hello!")]
    assert messages[1]["edited"] is True and messages[1]["deleted"] is False
