"""Uploads (stream, base64, URL) come back byte for byte; downloads respect their size limit."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from aistudio.kie import KieClient, KieFileTooLarge, KieInvalidInput, KieNotFound
from tests.kie.conftest import Receiver, Sandbox


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_stream_upload_of_bytes_is_served_back_by_its_url(kie: KieClient) -> None:
    photo = _png()

    uploaded = await kie.upload_stream(photo, "photo.png", "users/42")

    assert uploaded.size == len(photo)
    assert uploaded.mime_type == "image/png"
    assert uploaded.file_path == "users/42/photo.png"
    assert await kie.download(uploaded.url, max_bytes=1_000_000) == photo


async def test_stream_upload_from_an_async_iterator_sends_every_chunk(kie: KieClient) -> None:
    chunks = [bytes([i]) * 10_000 for i in range(5)]

    async def produce() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    uploaded = await kie.upload_stream(produce(), "clip.mp4", "users/42")

    assert await kie.download(uploaded.url, max_bytes=1_000_000) == b"".join(chunks)
    assert uploaded.mime_type == "video/mp4"


async def test_base64_upload_is_served_back_by_its_url(kie: KieClient) -> None:
    photo = _png()

    uploaded = await kie.upload_base64(photo, "users/7", "face.png")

    assert uploaded.mime_type == "image/png"
    assert await kie.download(uploaded.url, max_bytes=1_000_000) == photo


async def test_base64_upload_accepts_a_data_url(kie: KieClient) -> None:
    payload = "data:image/png;base64," + base64.b64encode(_png()).decode()

    uploaded = await kie.upload_base64(payload, "users/7")

    assert uploaded.file_name and uploaded.file_name.endswith(".png")
    assert await kie.download(uploaded.url, max_bytes=1_000_000) == _png()


async def test_url_upload_fetches_the_file_and_serves_it_back(kie: KieClient, receiver: Receiver) -> None:
    receiver.files["voice.ogg"] = b"OggS" + b"\x00" * 100

    uploaded = await kie.upload_url(f"{receiver.url}/files/voice.ogg", "users/9")

    assert uploaded.file_name == "voice.ogg"
    assert await kie.download(uploaded.url, max_bytes=1_000_000) == receiver.files["voice.ogg"]


async def test_url_upload_of_a_missing_file_is_refused(kie: KieClient, receiver: Receiver) -> None:
    with pytest.raises(KieInvalidInput):
        await kie.upload_url(f"{receiver.url}/files/missing.png", "users/9")


async def test_upload_names_cannot_escape_their_folder(kie: KieClient) -> None:
    uploaded = await kie.upload_stream(b"x", "../../etc/passwd", "../../secret")

    assert uploaded.file_path == "secret/passwd"


async def test_download_over_the_limit_is_refused(kie: KieClient) -> None:
    uploaded = await kie.upload_stream(b"x" * 5000, "big.bin", "t")

    with pytest.raises(KieFileTooLarge):
        await kie.download(uploaded.url, max_bytes=4999)


async def test_download_to_a_path_writes_the_whole_file(kie: KieClient, tmp_path: Path) -> None:
    uploaded = await kie.upload_stream(b"abc" * 1000, "a.bin", "t")

    written = await kie.download(uploaded.url, max_bytes=10_000, to_path=tmp_path / "a.bin")

    assert written == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"abc" * 1000
    assert not (tmp_path / "a.bin.part").exists()


async def test_failed_download_to_a_path_leaves_no_file(kie: KieClient, tmp_path: Path) -> None:
    uploaded = await kie.upload_stream(b"y" * 5000, "b.bin", "t")

    with pytest.raises(KieFileTooLarge):
        await kie.download(uploaded.url, max_bytes=100, to_path=tmp_path / "b.bin")

    assert os.listdir(tmp_path) == []


async def test_expired_result_url_is_not_found(kie: KieClient, sandbox: Sandbox) -> None:
    with pytest.raises(KieNotFound):
        await kie.download(f"{sandbox.url}/files/results/nope/0.png", max_bytes=1000)


async def test_download_url_refuses_external_links(kie: KieClient) -> None:
    with pytest.raises(KieInvalidInput):
        await kie.download_url("https://example.com/cat.png")


async def test_downloads_do_not_send_the_api_key(kie: KieClient, receiver: Receiver) -> None:
    # Result files live on other hosts; our key must stay with Kie's API.
    receiver.files["r.png"] = _png()

    await kie.download(f"{receiver.url}/files/r.png", max_bytes=10_000)

    [headers] = receiver.file_requests
    assert "authorization" not in {name.lower() for name in headers}
