"""Files the user sends to the wizard: which message parts count as a photo, video or audio (sent as such or
as a document), Telegram's 20 MB download limit, and the hand-over to Kie's file host."""

from __future__ import annotations

import io
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import PurePath

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Message

from aistudio.kie.client import KieClient
from aistudio.kie.errors import KieError

log = logging.getLogger(__name__)

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # what the Bot API lets a bot download (getFile)

EXTENSIONS = {
    "image": {".jpg", ".jpeg", ".png", ".webp"},
    "video": {".mp4", ".mov", ".webm", ".m4v"},
    "audio": {".mp3", ".wav", ".ogg", ".oga", ".m4a", ".aac", ".flac", ".opus"},
}


@dataclass(frozen=True)
class IncomingFile:
    file_id: str
    size: int | None
    filename: str
    mime_type: str


class WrongFileKind(Exception):
    """The message carries a file, but not of the kind the step asks for."""


class FileTooBig(Exception):
    """Over Telegram's 20 MB download limit for bots."""


class UploadFailed(Exception):
    """Kie's file host did not take the file."""


def incoming_file(message: Message, kind: str) -> IncomingFile | None:
    """The file of `kind` in the message (photo/video/audio, or a document of that kind).

    None when the message has no file at all; raises `WrongFileKind` for a file of another kind.
    """
    uid = message.message_id
    if kind == "image" and message.photo:
        photo = message.photo[-1]
        return IncomingFile(photo.file_id, photo.file_size, f"photo-{uid}.jpg", "image/jpeg")
    if kind == "video":
        media = message.video or message.animation or message.video_note
        if media is not None:
            name = getattr(media, "file_name", None) or f"video-{uid}.mp4"
            return IncomingFile(media.file_id, media.file_size, name, getattr(media, "mime_type", None) or "video/mp4")
    if kind == "audio":
        if message.audio:
            a = message.audio
            name = a.file_name or f"audio-{uid}.mp3"
            return IncomingFile(a.file_id, a.file_size, name, a.mime_type or "audio/mpeg")
        if message.voice:
            v = message.voice
            return IncomingFile(v.file_id, v.file_size, f"voice-{uid}.ogg", v.mime_type or "audio/ogg")
    if message.document:
        doc = message.document
        name = doc.file_name or f"file-{uid}"
        mime = doc.mime_type or ""
        if not _declared_kind(name, mime) == kind:
            raise WrongFileKind
        return IncomingFile(doc.file_id, doc.file_size, name, _mime_for(name, mime))
    if message.photo or message.video or message.audio or message.voice or message.animation or message.video_note:
        raise WrongFileKind
    if message.sticker:
        raise WrongFileKind
    return None


def _declared_kind(name: str, mime: str) -> str | None:
    major = mime.split("/", 1)[0]
    if major in ("image", "video", "audio") and mime != "image/gif":
        return major
    suffix = PurePath(name).suffix.lower()
    for kind, suffixes in EXTENSIONS.items():
        if suffix in suffixes:
            return kind
    return None


def _mime_for(name: str, declared: str) -> str:
    if declared and declared != "application/octet-stream":
        return declared
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def looks_like(kind: str, head: bytes) -> bool:
    """A cheap content check (magic bytes) for images, the kind users most often mislabel."""
    if kind != "image":
        return True
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


async def fetch_and_upload(bot: Bot, kie: KieClient, file: IncomingFile, kind: str, user_id: int) -> str:
    """Download the file from Telegram and upload it to Kie's file host; returns the URL Kie will read."""
    if file.size is not None and file.size > TELEGRAM_DOWNLOAD_LIMIT:
        raise FileTooBig
    try:
        buffer = await bot.download(file.file_id, destination=io.BytesIO())
    except TelegramBadRequest as exc:
        if "too big" in str(exc).lower():
            raise FileTooBig from exc
        raise
    assert buffer is not None
    data = buffer.getvalue()
    if not looks_like(kind, data[:16]):
        raise WrongFileKind
    try:
        uploaded = await kie.upload_stream(
            data, file.filename, upload_path=f"users/{user_id}", mime_type=file.mime_type
        )
    except KieError as exc:
        log.warning("upload of %s for user %s failed: %s", file.filename, user_id, exc)
        raise UploadFailed from exc
    return uploaded.url
