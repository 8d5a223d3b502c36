"""The transcript view of a chat: every message both ways, flattened for tests and the web chat."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .emulator import Emulator
    from .state import Chat, StoredMessage

# Animation first: Telegram puts an animation into ``document`` as well.
_MEDIA_ORDER = ("animation", "photo", "video", "audio", "voice", "document")


def file_url(file_id: str) -> str:
    """Where the web chat and tests fetch a file's bytes (relative to the sandbox base URL)."""
    return f"/sandbox/files/{file_id}"


def _media(data: dict[str, Any]) -> dict[str, Any] | None:
    for kind in _MEDIA_ORDER:
        media = data.get(kind)
        if media is None:
            continue
        item = media[-1] if isinstance(media, list) else media
        view = {"kind": kind, "file_id": item["file_id"], "file_url": file_url(item["file_id"])}
        for key in ("file_name", "mime_type", "file_size", "width", "height", "duration"):
            if key in item:
                view[key] = item[key]
        return view
    return None


def _keyboard(stored: StoredMessage) -> dict[str, Any] | None:
    inline = (stored.data.get("reply_markup") or {}).get("inline_keyboard")
    if inline:
        rows = [
            [{k: b[k] for k in ("text", "callback_data", "url", "pay", "web_app", "copy_text") if k in b} for b in row]
            for row in inline
        ]
        return {"type": "inline", "rows": rows}
    if stored.reply_keyboard:
        rows = [[{"text": b["text"]} for b in row] for row in stored.reply_keyboard["keyboard"]]
        return {
            "type": "reply",
            "rows": rows,
            "one_time": bool(stored.reply_keyboard.get("one_time_keyboard")),
            "placeholder": stored.reply_keyboard.get("input_field_placeholder"),
        }
    return None


def message_view(stored: StoredMessage) -> dict[str, Any]:
    """One message as the transcript shows it."""
    data = stored.data
    view: dict[str, Any] = {
        "message_id": stored.message_id,
        "direction": stored.direction,
        "sender": "bot" if stored.outgoing else "user",
        "date": data["date"],
        "version": stored.version,
        "text": data.get("text"),
        "caption": data.get("caption"),
        "entities": data.get("entities") or data.get("caption_entities") or [],
        "media": _media(data),
        "keyboard": _keyboard(stored),
        "edited": "edit_date" in data,
        "edit_date": data.get("edit_date"),
        "deleted": stored.deleted,
    }
    if stored.invoice is not None:
        view["invoice"] = {
            **stored.invoice.to_api(),
            "payload": stored.invoice.payload,
            "prices": stored.invoice.prices,
            "subscription_period": stored.invoice.subscription_period,
            "paid": stored.paid,
        }
    for key in ("successful_payment", "refunded_payment", "media_group_id", "forward_origin"):
        if key in data:
            view[key] = data[key]
    if "reply_to_message" in data:
        view["reply_to_message_id"] = data["reply_to_message"]["message_id"]
    return view


def _current_keyboard(chat: Chat) -> dict[str, Any] | None:
    if not chat.reply_keyboard:
        return None
    return {
        "rows": [[{"text": b["text"]} for b in row] for row in chat.reply_keyboard["keyboard"]],
        "one_time": bool(chat.reply_keyboard.get("one_time_keyboard")),
        "placeholder": chat.reply_keyboard.get("input_field_placeholder"),
    }


def user_commands(emu: Emulator, chat: Chat) -> list[dict[str, Any]]:
    """The command menu this user sees: their language's list, else the default language's."""
    import json

    default_scope = json.dumps({"type": "default"}, sort_keys=True)
    chat_scope = json.dumps({"type": "chat", "chat_id": chat.id}, sort_keys=True)
    language = chat.user.language_code or ""
    for key in ((chat_scope, language), (chat_scope, ""), (default_scope, language), (default_scope, "")):
        commands = emu.state.commands.get(key)
        if commands:
            return commands
    return []


def transcript(emu: Emulator, chat: Chat, *, after_version: int | None = None) -> dict[str, Any]:
    """The whole chat (or messages changed after ``after_version``) plus chat-level status."""
    messages = [message_view(m) for m in chat.messages.values() if after_version is None or m.version > after_version]
    return {
        "user": chat.user.to_api(),
        "chat_id": chat.id,
        "version": chat.version,
        "blocked": chat.blocked,
        "chat_action": chat.current_action(),
        "reply_keyboard": _current_keyboard(chat),
        "menu_button": chat.menu_button or emu.state.default_menu_button,
        "commands": user_commands(emu, chat),
        "messages": messages,
    }
