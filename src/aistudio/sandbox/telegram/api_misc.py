"""Bot API methods about the bot itself, chats, callback queries, files and update delivery."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from .errors import QUERY_TOO_OLD, bad_request
from .registry import ApiCall, api_method, get_chat, writable_chat

if TYPE_CHECKING:
    from .emulator import Emulator

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


@api_method("getMe")
async def get_me(emu: Emulator, call: ApiCall) -> Any:
    """getMe."""
    return {
        **emu.state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("logOut", "close")
async def log_out(emu: Emulator, call: ApiCall) -> Any:
    """logOut / close: nothing to release in the sandbox."""
    return True


def _scope_key(params: dict[str, Any]) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    language = params.get("language_code") or ""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    return json.dumps(scope, sort_keys=True), language


@api_method("setMyCommands")
async def set_my_commands(emu: Emulator, call: ApiCall) -> Any:
    """setMyCommands: ≤ 100 commands, names of 1–32 lowercase letters/digits/_, descriptions 1–256."""
    commands = call.params.get("commands") or []
    if len(commands) > 100:
        raise bad_request("too many commands specified")
    clean = []
    for command in commands:
        name = str(command.get("command", "")).lstrip("/")
        description = str(command.get("description", ""))
        if not _COMMAND_RE.match(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description.strip()) <= 256:
            raise bad_request("command description must be non-empty")
        clean.append({"command": name, "description": description})
    emu.state.commands[_scope_key(call.params)] = clean
    return True


@api_method("getMyCommands")
async def get_my_commands(emu: Emulator, call: ApiCall) -> Any:
    """getMyCommands: the list for exactly this scope and language (no fallback, as in Telegram)."""
    return emu.state.commands.get(_scope_key(call.params), [])


@api_method("deleteMyCommands")
async def delete_my_commands(emu: Emulator, call: ApiCall) -> Any:
    """deleteMyCommands."""
    emu.state.commands.pop(_scope_key(call.params), None)
    return True


@api_method(
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setMyDefaultAdministratorRights",
    "setMessageReaction",
)
async def accept_setting(emu: Emulator, call: ApiCall) -> Any:
    """Profile settings the sandbox accepts without showing them."""
    return True


@api_method("setChatMenuButton")
async def set_chat_menu_button(emu: Emulator, call: ApiCall) -> Any:
    """setChatMenuButton: per chat, or the default when chat_id is omitted."""
    button = call.params.get("menu_button") or {"type": "default"}
    if call.params.get("chat_id") is None:
        emu.state.default_menu_button = {"type": "commands"} if button["type"] == "default" else button
        return True
    chat = get_chat(emu, call.params["chat_id"])
    chat.menu_button = None if button["type"] == "default" else button
    emu.state.touch(chat)
    return True


@api_method("getChatMenuButton")
async def get_chat_menu_button(emu: Emulator, call: ApiCall) -> Any:
    """getChatMenuButton."""
    if call.params.get("chat_id") is None:
        return emu.state.default_menu_button
    chat = get_chat(emu, call.params["chat_id"])
    return chat.menu_button or emu.state.default_menu_button


@api_method("getChat")
async def get_chat_info(emu: Emulator, call: ApiCall) -> Any:
    """getChat: a private chat's ChatFullInfo."""
    chat = get_chat(emu, call.params.get("chat_id"))
    return {
        **chat.user.chat_api(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        },
    }


@api_method("sendChatAction")
async def send_chat_action(emu: Emulator, call: ApiCall) -> Any:
    """sendChatAction: shown for 5 s or until the bot's next message."""
    action = call.params.get("action")
    chat = writable_chat(emu, call.params.get("chat_id"))
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.action = action
    chat.action_until = time.monotonic() + 5.0
    emu.state.touch(chat)
    return True


@api_method("answerCallbackQuery")
async def answer_callback_query(emu: Emulator, call: ApiCall) -> Any:
    """answerCallbackQuery: once per query, within the query's lifetime."""
    query = emu.state.callbacks.get(str(call.params.get("callback_query_id")))
    if query is None or query.answered or time.monotonic() - query.created > emu.config.callback_query_ttl:
        raise bad_request(QUERY_TOO_OLD)
    text = call.params.get("text")
    if isinstance(text, str) and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    query.answer = {
        "text": text,
        "show_alert": bool(call.params.get("show_alert")),
        "url": call.params.get("url"),
        "cache_time": call.params.get("cache_time"),
    }
    query.event.set()
    chat = emu.state.chats.get(query.chat_id)
    if chat is not None:
        emu.state.touch(chat)
    return True


@api_method("getFile")
async def get_file(emu: Emulator, call: ApiCall) -> Any:
    """getFile: bots may download files up to 20 MB."""
    stored = emu.files.get(str(call.params.get("file_id", "")))
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > emu.config.max_download:
        raise bad_request("file is too big")
    return stored.to_api_file()


@api_method("getUpdates")
async def get_updates(emu: Emulator, call: ApiCall) -> Any:
    """getUpdates (long polling)."""
    p = call.params
    return await emu.hub.get_updates(
        offset=p.get("offset"),
        limit=p.get("limit"),
        poll_timeout=p.get("timeout"),
        allowed_updates=p.get("allowed_updates"),
    )


@api_method("setWebhook")
async def set_webhook(emu: Emulator, call: ApiCall) -> Any:
    """setWebhook."""
    p = call.params
    emu.hub.set_webhook(
        p.get("url") or "",
        secret_token=p.get("secret_token"),
        max_connections=p.get("max_connections"),
        allowed_updates=p.get("allowed_updates"),
        ip_address=p.get("ip_address"),
        drop_pending_updates=bool(p.get("drop_pending_updates")),
    )
    return True


@api_method("deleteWebhook")
async def delete_webhook(emu: Emulator, call: ApiCall) -> Any:
    """deleteWebhook."""
    emu.hub.delete_webhook(drop_pending_updates=bool(call.params.get("drop_pending_updates")))
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(emu: Emulator, call: ApiCall) -> Any:
    """getWebhookInfo."""
    return emu.hub.webhook_info()
