"""The registry of emulated Bot API methods and the helpers every method handler shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import bad_request, forbidden
from .formatting import format_text
from .limits import check_caption, check_text, parse_reply_markup

if TYPE_CHECKING:
    from aiogram.methods import TelegramMethod

    from .emulator import Emulator
    from .files import Upload
    from .state import Chat, InvoiceInfo, StoredMessage


@dataclass(slots=True)
class ApiCall:
    """One validated Bot API call: decoded parameters, aiogram's method model and uploaded files."""

    name: str
    params: dict[str, Any]
    model: TelegramMethod[Any]
    uploads: dict[str, Upload]


Handler = Callable[["Emulator", ApiCall], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def api_method(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler for Bot API method names (matched case-insensitively, as Telegram does)."""

    def register(func: Handler) -> Handler:
        for name in names:
            HANDLERS[name.lower()] = func
        return func

    return register


def get_chat(emu: Emulator, chat_id: Any) -> Chat:
    """The private chat for ``chat_id``; "chat not found" for unknown ids and for @usernames of users."""
    if isinstance(chat_id, str):
        text = chat_id.strip()
        if not text.lstrip("-").isdigit():
            raise bad_request("chat not found")
        chat_id = int(text)
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        raise bad_request("chat not found")
    chat = emu.state.chats.get(chat_id)
    if chat is None:
        raise bad_request("chat not found")
    return chat


def writable_chat(emu: Emulator, chat_id: Any) -> Chat:
    """A chat the bot may send to: 403 if the user blocked the bot."""
    chat = get_chat(emu, chat_id)
    if chat.blocked:
        raise forbidden("bot was blocked by the user")
    return chat


def text_content(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """``text`` and ``entities`` of a message, parsed and checked against Telegram's length limit."""
    raw = params.get("text")
    text, entities = format_text(raw if isinstance(raw, str) else "", params.get("parse_mode"), params.get("entities"))
    check_text(text, emu.config.max_text_length)
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    options = params.get("link_preview_options")
    if isinstance(options, dict) and options:
        content["link_preview_options"] = options
    return content


def caption_content(emu: Emulator, params: dict[str, Any]) -> dict[str, Any]:
    """``caption`` and ``caption_entities`` of a media message (absent when there is no caption)."""
    raw = params.get("caption")
    if not isinstance(raw, str) or not raw:
        return {}
    caption, entities = format_text(raw, params.get("parse_mode"), params.get("caption_entities"))
    check_caption(caption, emu.config.max_caption_length)
    content: dict[str, Any] = {}
    if caption:
        content["caption"] = caption
    if entities:
        content["caption_entities"] = entities
    if params.get("show_caption_above_media") is True:
        content["show_caption_above_media"] = True
    return content


def reply_content(chat: Chat, params: dict[str, Any]) -> dict[str, Any]:
    """``reply_to_message`` for reply_parameters / reply_to_message_id, as Telegram embeds it."""
    reply = params.get("reply_parameters")
    allow_missing = bool(params.get("allow_sending_without_reply"))
    message_id = params.get("reply_to_message_id")
    if isinstance(reply, dict):
        message_id = reply.get("message_id")
        allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
    if not message_id:
        return {}
    target = chat.messages.get(int(message_id))
    if target is None or target.deleted:
        if allow_missing:
            return {}
        raise bad_request("message to be replied not found")
    # Telegram does not nest replies: the embedded message carries no reply_to_message of its own.
    return {"reply_to_message": {k: v for k, v in target.data.items() if k != "reply_to_message"}}


def deliver(
    emu: Emulator,
    chat: Chat,
    params: dict[str, Any],
    content: dict[str, Any],
    *,
    invoice: InvoiceInfo | None = None,
    count_rate: bool = True,
) -> StoredMessage:
    """Validate markup and reply target, apply rate limits, then store the bot's message in ``chat``."""
    markup = parse_reply_markup(params.get("reply_markup"))
    content = {**content, **reply_content(chat, params)}
    if count_rate:
        emu.limiter.check(chat.id)
    reply_keyboard = None
    if markup is not None:
        kind, data = markup
        if kind == "inline":
            content["reply_markup"] = data
        elif kind == "reply":
            chat.reply_keyboard = reply_keyboard = data
        elif kind == "remove":
            chat.reply_keyboard = None
    return emu.state.add_message(chat, outgoing=True, content=content, reply_keyboard=reply_keyboard, invoice=invoice)


def editable_message(emu: Emulator, params: dict[str, Any]) -> tuple[Chat, StoredMessage]:
    """The bot's own message an edit method targets, with Telegram's errors for the others."""
    if params.get("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    chat = writable_chat(emu, params.get("chat_id"))
    message_id = params.get("message_id")
    stored = chat.messages.get(message_id) if isinstance(message_id, int) else None
    if stored is None or stored.deleted:
        raise bad_request("message to edit not found")
    if not stored.outgoing:
        raise bad_request("message can't be edited")
    return chat, stored
