"""Bot API methods that send, edit, copy, forward and delete messages."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from .errors import MESSAGE_NOT_MODIFIED, bad_request
from .files import MEDIA_KINDS
from .limits import parse_reply_markup
from .registry import (
    ApiCall,
    api_method,
    caption_content,
    deliver,
    editable_message,
    get_chat,
    text_content,
    writable_chat,
)

if TYPE_CHECKING:
    from .emulator import Emulator

# Keys that make up a message's content (what copyMessage/forwardMessage carry over).
_CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "show_caption_above_media", *MEDIA_KINDS)
_SERVICE_KEYS = ("successful_payment", "refunded_payment", "invoice")
_MEDIA_EXTRA = ("width", "height", "duration", "performer", "title")


@api_method("sendMessage")
async def send_message(emu: Emulator, call: ApiCall) -> Any:
    """sendMessage."""
    chat = writable_chat(emu, call.params.get("chat_id"))
    content = text_content(emu, call.params)
    return deliver(emu, chat, call.params, content).data


def _media_content(kind: str, stored: Any, params: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {kind: stored.media(kind, {k: params.get(k) for k in _MEDIA_EXTRA})}
    if kind == "animation":
        # Telegram also fills ``document`` for animations, for clients that predate them.
        content["document"] = stored.media("document")
    if params.get("has_spoiler") is True:
        content["has_media_spoiler"] = True
    return content


def _media_sender(kind: str) -> Any:
    async def send_media(emu: Emulator, call: ApiCall) -> Any:
        chat = writable_chat(emu, call.params.get("chat_id"))
        caption = caption_content(emu, call.params)
        parse_reply_markup(call.params.get("reply_markup"))  # fail before storing the file
        stored = await emu.resolver.resolve(call.params.get(kind), call.uploads, kind=kind, field=kind)
        content = {**_media_content(kind, stored, call.params), **caption}
        return deliver(emu, chat, call.params, content).data

    send_media.__doc__ = f"send{kind.title()}."
    return send_media


for _kind in MEDIA_KINDS:
    api_method(f"send{_kind.title()}")(_media_sender(_kind))


@api_method("sendMediaGroup")
async def send_media_group(emu: Emulator, call: ApiCall) -> Any:
    """sendMediaGroup: 2–10 photos/videos, or only documents, or only audios; one message each."""
    chat = writable_chat(emu, call.params.get("chat_id"))
    media = call.params.get("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("media must include 2-10 items")
    kinds = {item.get("type") for item in media}
    if not (kinds <= {"photo", "video"} or kinds == {"document"} or kinds == {"audio"}):
        raise bad_request("can't use the media of the specified type in the album")
    captions = [caption_content(emu, item) for item in media]
    resolved = [
        await emu.resolver.resolve(item.get("media"), call.uploads, kind=item["type"], field="media") for item in media
    ]
    emu.limiter.check(chat.id)
    group_id = str(secrets.randbits(60))
    sent = []
    for item, stored, caption in zip(media, resolved, captions, strict=True):
        content = {**_media_content(item["type"], stored, item), **caption, "media_group_id": group_id}
        sent.append(deliver(emu, chat, call.params, content, count_rate=False).data)
    return sent


def _not_modified(old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...]) -> bool:
    return all(old.get(k) == new.get(k) for k in (*keys, "reply_markup"))


def _edited(emu: Emulator, call: ApiCall, content: dict[str, Any], drop: tuple[str, ...] = ()) -> Any:
    chat, stored = editable_message(emu, call.params)
    markup = parse_reply_markup(call.params.get("reply_markup"), inline_only=True)
    data = {k: v for k, v in stored.data.items() if k not in ("edit_date", "reply_markup", *drop)}
    data.update(content)
    # Telegram drops the inline keyboard when an edit omits reply_markup.
    if markup is not None:
        data["reply_markup"] = markup[1]
    emu.limiter.check(chat.id, edit=True)
    data["edit_date"] = int(time.time())
    emu.state.replace_message(chat, stored, data)
    return data


def _check_modified(old: dict[str, Any], content: dict[str, Any], call: ApiCall, keys: tuple[str, ...]) -> None:
    markup = parse_reply_markup(call.params.get("reply_markup"), inline_only=True)
    new = {**content, "reply_markup": markup[1] if markup else None}
    if _not_modified(old, new, keys):
        raise bad_request(MESSAGE_NOT_MODIFIED)


@api_method("editMessageText")
async def edit_message_text(emu: Emulator, call: ApiCall) -> Any:
    """editMessageText: only messages with text; identical content and markup is "not modified"."""
    _, stored = editable_message(emu, call.params)
    if "text" not in stored.data:
        raise bad_request("there is no text in the message to edit")
    content = text_content(emu, call.params)
    _check_modified(stored.data, content, call, ("text", "entities"))
    return _edited(emu, call, content, drop=("entities", "link_preview_options"))


@api_method("editMessageCaption")
async def edit_message_caption(emu: Emulator, call: ApiCall) -> Any:
    """editMessageCaption: only media messages; an absent caption removes it."""
    _, stored = editable_message(emu, call.params)
    if not any(kind in stored.data for kind in MEDIA_KINDS):
        raise bad_request("there is no caption in the message to edit")
    content = caption_content(emu, call.params)
    _check_modified(stored.data, content, call, ("caption", "caption_entities"))
    return _edited(emu, call, content, drop=("caption", "caption_entities", "show_caption_above_media"))


@api_method("editMessageMedia")
async def edit_message_media(emu: Emulator, call: ApiCall) -> Any:
    """editMessageMedia: replace the media (and caption) of a media message."""
    _, stored = editable_message(emu, call.params)
    if not any(kind in stored.data for kind in MEDIA_KINDS):
        raise bad_request("there is no media in the message to edit")
    media = call.params.get("media")
    if not isinstance(media, dict) or media.get("type") not in MEDIA_KINDS:
        raise bad_request("can't parse InputMedia JSON object")
    kind = media["type"]
    caption = caption_content(emu, media)
    file = await emu.resolver.resolve(media.get("media"), call.uploads, kind=kind, field="media")
    content = {**_media_content(kind, file, media), **caption}
    old_unique = _media_unique_id(stored.data)
    if old_unique == file.file_unique_id:
        _check_modified(stored.data, content, call, ("caption", "caption_entities"))
    return _edited(emu, call, content, drop=(*MEDIA_KINDS, "caption", "caption_entities", "has_media_spoiler"))


def _media_unique_id(data: dict[str, Any]) -> str | None:
    for kind in MEDIA_KINDS:
        media = data.get(kind)
        if isinstance(media, list) and media:
            return media[-1]["file_unique_id"]
        if isinstance(media, dict):
            return media["file_unique_id"]
    return None


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: Emulator, call: ApiCall) -> Any:
    """editMessageReplyMarkup: change or (without reply_markup) remove the inline keyboard."""
    _, stored = editable_message(emu, call.params)
    _check_modified(stored.data, {}, call, ())
    keep = {k: v for k, v in stored.data.items() if k in _CONTENT_KEYS}
    return _edited(emu, call, keep)


@api_method("deleteMessage")
async def delete_message(emu: Emulator, call: ApiCall) -> Any:
    """deleteMessage: the bot may delete both sides of a private chat."""
    chat = get_chat(emu, call.params.get("chat_id"))
    stored = chat.messages.get(call.params.get("message_id"))  # type: ignore[arg-type]
    if stored is None or stored.deleted:
        raise bad_request("message to delete not found")
    emu.state.delete_message(chat, stored)
    return True


@api_method("deleteMessages")
async def delete_messages(emu: Emulator, call: ApiCall) -> Any:
    """deleteMessages: 1–100 ids; ids that cannot be found are skipped."""
    chat = get_chat(emu, call.params.get("chat_id"))
    ids = call.params.get("message_ids") or []
    if not 1 <= len(ids) <= 100:
        raise bad_request("too many messages to delete" if ids else "message identifiers are not specified")
    for message_id in ids:
        stored = chat.messages.get(message_id)
        if stored is not None and not stored.deleted:
            emu.state.delete_message(chat, stored)
    return True


def _source_message(emu: Emulator, call: ApiCall) -> dict[str, Any]:
    source_chat = get_chat(emu, call.params.get("from_chat_id"))
    stored = source_chat.messages.get(call.params.get("message_id"))  # type: ignore[arg-type]
    if stored is None or stored.deleted:
        raise bad_request("message to copy not found")
    if any(key in stored.data for key in _SERVICE_KEYS):
        raise bad_request("message can't be copied")
    return stored.data


@api_method("copyMessage")
async def copy_message(emu: Emulator, call: ApiCall) -> Any:
    """copyMessage: same content without a link to the original; returns only the new MessageId."""
    chat = writable_chat(emu, call.params.get("chat_id"))
    source = _source_message(emu, call)
    content = {k: source[k] for k in _CONTENT_KEYS if k in source}
    if "caption" in call.params and "text" not in source:
        for key in ("caption", "caption_entities"):
            content.pop(key, None)
        content.update(caption_content(emu, call.params))
    stored = deliver(emu, chat, call.params, content)
    return {"message_id": stored.message_id}


@api_method("forwardMessage")
async def forward_message(emu: Emulator, call: ApiCall) -> Any:
    """forwardMessage: same content plus ``forward_origin`` naming the original sender."""
    chat = writable_chat(emu, call.params.get("chat_id"))
    source = _source_message(emu, call)
    content = {k: source[k] for k in _CONTENT_KEYS if k in source}
    content["forward_origin"] = {"type": "user", "sender_user": source["from"], "date": source["date"]}
    return deliver(emu, chat, {}, content).data
