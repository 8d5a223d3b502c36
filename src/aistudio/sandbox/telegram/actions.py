"""What a simulated user does: write, send files, press buttons, pay, block the bot.

Every action becomes exactly the Update Telegram would produce, queued for getUpdates or the webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from typing import TYPE_CHECKING, Any

from .api_payments import pay
from .files import Upload, check_photo
from .formatting import command_entities

if TYPE_CHECKING:
    from .emulator import Emulator
    from .state import Chat, StoredMessage


class ActionError(Exception):
    """A control-API request that cannot be carried out; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _user_message(emu: Emulator, chat: Chat, content: dict[str, Any]) -> dict[str, Any]:
    if chat.blocked:
        raise ActionError(409, "the user has blocked the bot; unblock first")
    stored = emu.state.add_message(chat, outgoing=False, content=content)
    update_id = emu.hub.push("message", stored.data)
    return {"message_id": stored.message_id, "update_id": update_id, "message": stored.data}


def _reply(chat: Chat, reply_to_message_id: int | None) -> dict[str, Any]:
    if reply_to_message_id is None:
        return {}
    target = chat.messages.get(reply_to_message_id)
    if target is None or target.deleted:
        raise ActionError(404, f"message {reply_to_message_id} not found in this chat")
    return {"reply_to_message": {k: v for k, v in target.data.items() if k != "reply_to_message"}}


def send_text(emu: Emulator, chat: Chat, text: str, reply_to_message_id: int | None = None) -> dict[str, Any]:
    """The user sends a text message (``/commands`` get ``bot_command`` entities, as in Telegram)."""
    content: dict[str, Any] = {"text": text, **_reply(chat, reply_to_message_id)}
    entities = command_entities(text)
    if entities:
        content["entities"] = entities
    return _user_message(emu, chat, content)


def send_file(emu: Emulator, chat: Chat, kind: str, upload: Upload, caption: str | None) -> dict[str, Any]:
    """The user sends a photo, document, audio, video, voice or animation, optionally captioned."""
    if not upload.data:
        raise ActionError(400, "the file is empty")
    if kind == "photo":
        try:
            check_photo(upload.data, emu.config)
        except Exception as exc:
            raise ActionError(400, "a photo must be a PNG, JPEG, GIF or WebP image within Telegram's limits") from exc
    stored = emu.files.add(upload.data, kind=kind, file_name=upload.filename, mime_type=upload.content_type)
    content: dict[str, Any] = {kind: stored.media(kind)}
    if kind == "animation":
        content["document"] = stored.media("document")
    if caption:
        content["caption"] = caption
        entities = command_entities(caption)
        if entities:
            content["caption_entities"] = entities
    return _user_message(emu, chat, content)


def _buttons(markup: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    rows = (markup or {}).get(key) or []
    return [button for row in rows for button in row]


def _pick(buttons: list[dict[str, Any]], text: str | None, callback_data: str | None) -> dict[str, Any] | None:
    for button in buttons:
        if callback_data is not None and button.get("callback_data") != callback_data:
            continue
        if text is not None and button.get("text") != text:
            continue
        return button
    return None


async def press(
    emu: Emulator,
    chat: Chat,
    *,
    message_id: int | None,
    text: str | None,
    callback_data: str | None,
    wait: float,
) -> dict[str, Any]:
    """Press an inline button of a message, or a button of the current reply keyboard.

    Inline callback buttons produce a callback_query update; with ``wait`` > 0 this waits that long for
    the bot's answerCallbackQuery and includes it. Reply-keyboard buttons send their text as a message.
    """
    stored: StoredMessage | None = None
    if message_id is not None:
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise ActionError(404, f"message {message_id} not found in this chat")
        inline = _buttons(stored.data.get("reply_markup"), "inline_keyboard")
        button = _pick(inline, text, callback_data)
        if button is not None:
            return await _press_inline(emu, chat, stored, button, wait)
    keyboard = chat.reply_keyboard if stored is None or stored.reply_keyboard is None else stored.reply_keyboard
    if callback_data is None and keyboard is not None and keyboard is chat.reply_keyboard:
        button = _pick(_buttons(keyboard, "keyboard"), text, None)
        if button is not None:
            if keyboard.get("one_time_keyboard"):
                chat.reply_keyboard = None  # Telegram hides a one-time keyboard after use
            result = send_text(emu, chat, button["text"])
            return {"kind": "reply_keyboard", **result}
    available = [
        {k: b[k] for k in ("text", "callback_data", "url") if k in b}
        for b in _buttons(stored.data.get("reply_markup") if stored else None, "inline_keyboard")
    ] + [{"text": b["text"]} for b in _buttons(chat.reply_keyboard, "keyboard")]
    raise ActionError(404, "no such button", available=available)


async def _press_inline(
    emu: Emulator, chat: Chat, stored: StoredMessage, button: dict[str, Any], wait: float
) -> dict[str, Any]:
    if chat.blocked:
        raise ActionError(409, "the user has blocked the bot; unblock first")
    if "url" in button:
        return {"kind": "url", "url": button["url"]}
    if button.get("pay"):
        if stored.invoice is None:
            raise ActionError(400, "this pay button is not on an invoice")
        return {"kind": "pay", **await pay_message(emu, chat, stored)}
    if "callback_data" not in button:
        raise ActionError(400, f"button {button.get('text')!r} has no action the sandbox emulates")
    query = emu.state.new_callback(chat, stored.message_id, button["callback_data"])
    instance = hashlib.sha256(f"{chat.id}:{emu.config.bot_id}".encode()).hexdigest()[:16]
    payload = {
        "id": query.id,
        "from": chat.user.to_api(),
        "message": stored.data,
        "chat_instance": str(int(instance, 16)),
        "data": query.data,
    }
    update_id = emu.hub.push("callback_query", payload)
    result: dict[str, Any] = {"kind": "callback", "callback_query_id": query.id, "update_id": update_id}
    if wait > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(query.event.wait(), wait)
    result["answered"] = query.answered
    result["answer"] = query.answer
    return result


async def pay_message(
    emu: Emulator, chat: Chat, stored: StoredMessage, answer_timeout: float | None = None
) -> dict[str, Any]:
    """Pay the invoice in ``stored`` (once; Telegram shows a receipt afterwards)."""
    if stored.invoice is None:
        raise ActionError(400, f"message {stored.message_id} is not an invoice")
    if stored.paid:
        raise ActionError(409, f"invoice message {stored.message_id} is already paid")
    if chat.blocked:
        raise ActionError(409, "the user has blocked the bot; unblock first")
    result = await pay(emu, chat, stored.invoice, stored, answer_timeout=answer_timeout)
    emu.state.touch(chat)
    return result


async def pay_link(emu: Emulator, chat: Chat, link: str, answer_timeout: float | None = None) -> dict[str, Any]:
    """Pay an invoice link made by createInvoiceLink."""
    slug = link.rsplit("$", 1)[-1] if "$" in link else link
    invoice = emu.state.invoice_links.get(slug)
    if invoice is None:
        raise ActionError(404, "unknown invoice link")
    result = await pay(emu, chat, invoice, None, answer_timeout=answer_timeout)
    emu.state.touch(chat)
    return result


def set_blocked(emu: Emulator, chat: Chat, blocked: bool) -> dict[str, Any]:
    """Block or unblock the bot; the bot gets a my_chat_member update, sends then fail with 403."""
    if chat.blocked == blocked:
        return {"blocked": blocked, "update_id": None}
    chat.blocked = blocked
    bot = emu.state.bot_user
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    update = {
        "chat": chat.user.chat_api(),
        "from": chat.user.to_api(),
        "date": int(time.time()),
        "old_chat_member": {"status": old, "user": bot, **({"until_date": 0} if old == "kicked" else {})},
        "new_chat_member": {"status": new, "user": bot, **({"until_date": 0} if new == "kicked" else {})},
    }
    update_id = emu.hub.push("my_chat_member", update)
    emu.state.touch(chat)
    return {"blocked": blocked, "update_id": update_id}
