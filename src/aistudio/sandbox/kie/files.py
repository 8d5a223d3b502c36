"""Kie's upload host (stream, base64, URL uploads) and the `/files/...` URLs serving uploads and results."""

from __future__ import annotations

import base64
import binascii
import mimetypes
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from aiohttp import web

from aistudio.sandbox.kie.core import StoredFile
from aistudio.sandbox.kie.http import base_url, emulator, envelope_error, json_body
from aistudio.sandbox.kie.intake import KieAnswer

URL_FETCH_TIMEOUT = 30.0  # Kie's own limit for URL uploads


def _clean_path(upload_path: str) -> str:
    # Uploads are addressed by path; drop empty, "." and ".." parts so nothing escapes its folder.
    parts = [p for p in upload_path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "uploads"


def _clean_name(name: str | None, mime: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        base = uuid.uuid4().hex + (mimetypes.guess_extension(mime or "") or ".bin")
    return base


def _store(request: web.Request, upload_path: str, name: str | None, data: bytes, mime: str | None) -> dict[str, Any]:
    emu = emulator(request)
    if len(data) > emu.config.max_upload_bytes:
        raise KieAnswer(413, f"File too large: limit {emu.config.max_upload_bytes} bytes")
    if not data:
        raise KieAnswer(400, "File is empty")
    path = _clean_path(upload_path)
    file_name = _clean_name(name, mime)
    mime = mime or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    key = f"{path}/{file_name}"
    emu.files[key] = StoredFile(data, mime)  # same name overwrites, as on Kie
    return {
        "fileName": file_name,
        "filePath": key,
        "downloadUrl": f"{base_url(request)}/files/uploads/{quote(key)}",
        "fileSize": len(data),
        "mimeType": mime,
        "uploadedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _uploaded(data: dict[str, Any]) -> web.Response:
    return web.json_response({"success": True, "code": 200, "msg": "File uploaded successfully", "data": data})


async def stream_upload(request: web.Request) -> web.Response:
    """multipart/form-data with `file`, `uploadPath` and optional `fileName`, in any order."""
    limit = emulator(request).config.max_upload_bytes
    fields: dict[str, str] = {}
    content: bytearray | None = None
    part_name: str | None = None
    part_mime: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "file":
                part_name = part.filename
                part_mime = part.headers.get("Content-Type")
                content = bytearray()
                while chunk := await part.read_chunk():
                    content.extend(chunk)
                    if len(content) > limit:
                        raise KieAnswer(413, f"File too large: limit {limit} bytes")
            elif part.name:
                fields[part.name] = await part.text()
        if content is None:
            raise KieAnswer(400, "file is required")
        data = _store(
            request,
            fields.get("uploadPath", ""),
            fields.get("fileName") or part_name,
            bytes(content),
            part_mime,
        )
    except KieAnswer as answer:
        return envelope_error(answer)
    except (ValueError, AssertionError) as exc:  # not multipart, or a broken body
        return envelope_error(KieAnswer(400, f"Invalid multipart body: {exc}"))
    return _uploaded(data)


def _decode_base64(payload: str) -> tuple[bytes, str | None]:
    mime = None
    if payload.startswith("data:"):
        header, _, payload = payload.partition(",")
        mime = header[5:].split(";", 1)[0] or None
    try:
        return base64.b64decode(payload, validate=True), mime
    except (binascii.Error, ValueError):
        raise KieAnswer(400, "base64Data is not valid base64") from None


async def base64_upload(request: web.Request) -> web.Response:
    try:
        body = await json_body(request)
        payload = body.get("base64Data")
        if not isinstance(payload, str) or not payload:
            raise KieAnswer(400, "base64Data is required")
        content, mime = _decode_base64(payload)
        data = _store(request, str(body.get("uploadPath") or ""), body.get("fileName"), content, mime)
    except KieAnswer as answer:
        return envelope_error(answer)
    return _uploaded(data)


async def url_upload(request: web.Request) -> web.Response:
    """Fetch `fileUrl` like Kie does (30 s, size limit) and keep it as an upload."""
    emu = emulator(request)
    try:
        body = await json_body(request)
        url = body.get("fileUrl")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise KieAnswer(400, "fileUrl must be an http(s) URL")
        try:
            timeout = aiohttp.ClientTimeout(total=URL_FETCH_TIMEOUT)
            async with emu.sender.session().get(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise KieAnswer(400, f"Failed to download file: HTTP {resp.status}")
                content = await resp.content.read(emu.config.max_upload_bytes + 1)
                mime = resp.headers.get("Content-Type", "").split(";", 1)[0] or None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KieAnswer(400, f"Failed to download file: {type(exc).__name__}") from None
        name = body.get("fileName") or unquote(url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        data = _store(request, str(body.get("uploadPath") or ""), name, content, mime)
    except KieAnswer as answer:
        return envelope_error(answer)
    return _uploaded(data)


async def serve_upload(request: web.Request) -> web.Response:
    stored = emulator(request).files.get(unquote(request.match_info["path"]))
    if stored is None:
        raise web.HTTPNotFound()
    return web.Response(body=stored.data, content_type=stored.mime)


async def serve_result(request: web.Request) -> web.Response:
    found = emulator(request).result_file(request.match_info["task_id"], request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    data, content_type = found
    return web.Response(body=data, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/file-stream-upload", stream_upload)
    app.router.add_post("/api/file-base64-upload", base64_upload)
    app.router.add_post("/api/file-url-upload", url_upload)
    app.router.add_get("/files/uploads/{path:.+}", serve_upload)
    app.router.add_get("/files/results/{task_id}/{name}", serve_result)
