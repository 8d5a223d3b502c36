"""Uploads (multipart and by URL), file ids, getFile and downloads, media kinds, albums and size limits."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import (
    BufferedInputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    URLInputFile,
)
from aiohttp import web

from aistudio.sandbox.telegram import DEFAULT_TOKEN
from aistudio.sandbox.telegram.client import SandboxTelegramClient

from .conftest import USER_ID, png, serve

pytestmark = pytest.mark.usefixtures("user")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
OGG = b"OggS" + b"\x00" * 60
MP3 = b"ID3" + b"\x00" * 60


async def test_uploaded_photo_round_trips_through_get_file_and_download(bot: Bot, base_url: str) -> None:
    image = png(64, 48)
    message = await bot.send_photo(
        USER_ID, BufferedInputFile(image, "cat.png"), caption="<i>cat</i>", parse_mode="HTML"
    )
    assert message.photo is not None
    size = message.photo[-1]
    assert (size.width, size.height, size.file_size) == (64, 48, len(image))
    assert message.caption == "cat"
    file = await bot.get_file(size.file_id)
    assert file.file_path and file.file_size == len(image)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == image


async def test_file_download_needs_the_right_token(http: aiohttp.ClientSession, bot: Bot, base_url: str) -> None:
    message = await bot.send_document(USER_ID, BufferedInputFile(PDF, "doc.pdf"))
    assert message.document is not None
    file = await bot.get_file(message.document.file_id)
    async with http.get(f"{base_url}/file/bot{DEFAULT_TOKEN}/{file.file_path}") as resp:
        assert resp.status == 200 and await resp.read() == PDF
    async with http.get(f"{base_url}/file/bot1:wrong/{file.file_path}") as resp:
        assert resp.status == 401
    async with http.get(f"{base_url}/file/bot{DEFAULT_TOKEN}/documents/nope.pdf") as resp:
        assert resp.status == 404


async def test_every_media_kind_is_sent_and_shown(bot: Bot, tg: SandboxTelegramClient) -> None:
    document = await bot.send_document(USER_ID, BufferedInputFile(PDF, "report.pdf"), caption="report")
    video = await bot.send_video(USER_ID, BufferedInputFile(MP4, "clip.mp4"), width=640, height=360, duration=3)
    audio = await bot.send_audio(USER_ID, BufferedInputFile(MP3, "song.mp3"), title="Song", performer="Band")
    voice = await bot.send_voice(USER_ID, BufferedInputFile(OGG, "note.ogg"), duration=2)
    animation = await bot.send_animation(USER_ID, BufferedInputFile(MP4, "loop.mp4"))
    assert document.document and document.document.file_name == "report.pdf"
    assert document.document.mime_type == "application/pdf"
    assert video.video and (video.video.width, video.video.height, video.video.duration) == (640, 360, 3)
    assert audio.audio and audio.audio.title == "Song" and audio.audio.performer == "Band"
    assert voice.voice and voice.voice.duration == 2
    assert animation.animation and animation.document  # Telegram fills both for animations
    kinds = [m["media"]["kind"] for m in await tg.messages(USER_ID)]
    assert kinds == ["document", "video", "audio", "voice", "animation"]
    media = (await tg.messages(USER_ID))[1]["media"]
    assert await tg.file_bytes(media["file_url"]) == MP4


async def test_resending_by_file_id_reuses_the_file(bot: Bot) -> None:
    first = await bot.send_photo(USER_ID, BufferedInputFile(png(), "a.png"))
    assert first.photo
    again = await bot.send_photo(USER_ID, first.photo[-1].file_id)
    assert again.photo and again.photo[-1].file_id == first.photo[-1].file_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_photo(USER_ID, "AgACnot-a-real-file-id")
    with pytest.raises(TelegramBadRequest, match="can't use file of type Photo as Document"):
        await bot.send_document(USER_ID, first.photo[-1].file_id)


async def test_get_file_with_unknown_id_fails(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("BQACunknown")


async def test_photo_must_be_a_real_image_within_dimensions(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(USER_ID, BufferedInputFile(b"not an image", "x.png"))
    with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
        await bot.send_photo(USER_ID, BufferedInputFile(png(2100, 100), "wide.png"))


async def test_photo_over_10_mb_is_refused(bot: Bot) -> None:
    big = png(8, 8) + b"\x00" * (10 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="PHOTO_SAVE_FILE_INVALID"):
        await bot.send_photo(USER_ID, BufferedInputFile(big, "big.png"))
    message = await bot.send_document(USER_ID, BufferedInputFile(big, "big.png"))  # as a file it is fine
    assert message.document and message.document.file_size == len(big)


async def test_upload_over_50_mb_is_request_entity_too_large(bot: Bot) -> None:
    huge = b"\x00" * (50 * 1024 * 1024 + 1)
    with pytest.raises(TelegramEntityTooLarge, match="Request Entity Too Large"):
        await bot.send_document(USER_ID, BufferedInputFile(huge, "huge.bin"))
    assert (await bot.get_me()).is_bot  # the connection is still usable afterwards


async def test_get_file_refuses_files_over_20_mb(bot: Bot) -> None:
    big = b"\x01" * (20 * 1024 * 1024 + 1)
    message = await bot.send_document(USER_ID, BufferedInputFile(big, "big.bin"))
    assert message.document
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(message.document.file_id)


@pytest.fixture
async def file_host() -> Any:
    """A local web server hosting files for send-by-URL."""
    app = web.Application()
    image = png(32, 32)
    files = {
        "cat.png": (image, "image/png"),
        "doc.pdf": (PDF, "application/pdf"),
        "notes.txt": (b"x", "text/plain"),
    }

    async def handler(request: web.Request) -> web.Response:
        body, content_type = files[request.match_info["name"]]
        return web.Response(body=body, content_type=content_type)

    app.router.add_get("/{name:(cat.png|doc.pdf|notes.txt)}", handler)
    async with serve(app) as url:
        yield url, image


async def test_send_by_url_fetches_the_content(bot: Bot, file_host: Any, tg: SandboxTelegramClient) -> None:
    url, image = file_host
    photo = await bot.send_photo(USER_ID, f"{url}/cat.png")
    document = await bot.send_document(USER_ID, URLInputFile(f"{url}/doc.pdf"))  # aiogram downloads, then uploads
    by_url_document = await bot.send_document(USER_ID, f"{url}/doc.pdf")
    assert photo.photo and photo.photo[-1].width == 32
    assert document.document and by_url_document.document
    assert await tg.file_bytes((await tg.messages(USER_ID))[0]["media"]["file_url"]) == image


async def test_send_by_url_follows_telegram_rules(bot: Bot, file_host: Any) -> None:
    url, _ = file_host
    with pytest.raises(TelegramBadRequest, match="wrong type of the web page content"):
        await bot.send_document(USER_ID, f"{url}/notes.txt")  # Telegram fetches only PDF, ZIP and GIF
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await bot.send_photo(USER_ID, f"{url}/missing.png")


async def test_media_group_sends_one_message_per_item(bot: Bot, tg: SandboxTelegramClient) -> None:
    media = [
        InputMediaPhoto(media=BufferedInputFile(png(), "1.png"), caption="first"),
        InputMediaVideo(media=BufferedInputFile(MP4, "2.mp4")),
    ]
    messages = await bot.send_media_group(USER_ID, media)
    assert len(messages) == 2
    assert messages[0].media_group_id and messages[0].media_group_id == messages[1].media_group_id
    assert messages[0].caption == "first" and messages[1].video
    views = await tg.messages(USER_ID)
    assert [v["media"]["kind"] for v in views] == ["photo", "video"]


async def test_media_group_rules(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="media must include 2-10 items"):
        await bot.send_media_group(USER_ID, [InputMediaPhoto(media=BufferedInputFile(png(), "1.png"))])
    mixed = [
        InputMediaPhoto(media=BufferedInputFile(png(), "1.png")),
        InputMediaDocument(media=BufferedInputFile(PDF, "2.pdf")),
    ]
    with pytest.raises(TelegramBadRequest, match="can't use the media of the specified type in the album"):
        await bot.send_media_group(USER_ID, mixed)


async def test_edit_message_media_replaces_the_file(bot: Bot, tg: SandboxTelegramClient) -> None:
    message = await bot.send_photo(USER_ID, BufferedInputFile(png(10, 10), "a.png"), caption="v1")
    edited = await bot.edit_message_media(
        InputMediaPhoto(media=BufferedInputFile(png(20, 10, "blue"), "b.png"), caption="v2"),
        chat_id=USER_ID,
        message_id=message.message_id,
    )
    assert not isinstance(edited, bool) and edited.photo and edited.photo[-1].width == 20
    assert edited.caption == "v2" and edited.edit_date
    view = (await tg.messages(USER_ID))[-1]
    assert view["edited"] and view["media"]["width"] == 20
    text = await bot.send_message(USER_ID, "text only")
    with pytest.raises(TelegramBadRequest, match="there is no media in the message to edit"):
        await bot.edit_message_media(
            InputMediaPhoto(media=BufferedInputFile(png(), "c.png")),
            chat_id=USER_ID,
            message_id=text.message_id,
        )


async def test_user_files_reach_the_bot_and_can_be_downloaded(bot: Bot, tg: SandboxTelegramClient) -> None:
    image = png(30, 20)
    await tg.send_file(USER_ID, image, kind="photo", filename="me.png", caption="look")
    await tg.send_file(USER_ID, PDF, kind="document", filename="cv.pdf")
    updates = await bot.get_updates()
    photo_message, document_message = (u.message for u in updates)
    assert photo_message and photo_message.photo and photo_message.caption == "look"
    assert document_message and document_message.document and document_message.document.file_name == "cv.pdf"
    file = await bot.get_file(photo_message.photo[-1].file_id)
    assert file.file_path
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == image
