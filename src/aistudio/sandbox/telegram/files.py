"""Files: uploads (multipart and by URL), file ids, getFile paths, and the Bot API media objects."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from .errors import bad_request

if TYPE_CHECKING:
    from .config import EmulatorConfig

MEDIA_KINDS = ("photo", "document", "video", "audio", "voice", "animation")
# Telegram's file ids start with a type-specific prefix; mimicking it makes logs look familiar.
_ID_PREFIX = {
    "photo": "AgAC",
    "document": "BQAC",
    "video": "BAAC",
    "audio": "CQAC",
    "voice": "AwAC",
    "animation": "CgAC",
}
_DIRS = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "audio": "music",
    "voice": "voice",
    "animation": "animations",
}
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1a\x45\xdf\xa3", "video/webm"),
)
# In sendDocument Telegram fetches only GIF, PDF and ZIP files by URL.
_DOCUMENT_URL_TYPES = {"image/gif", "application/pdf", "application/zip"}


def sniff_mime(data: bytes, file_name: str | None = None, declared: str | None = None) -> str:
    """Guess a MIME type from magic bytes, then the file name, then what the sender declared."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "audio/mp4" if data[8:11] == b"M4A" else "video/mp4"
    if file_name:
        guessed, _ = mimetypes.guess_type(file_name)
        if guessed:
            return guessed
    if declared and declared != "application/octet-stream":
        return declared
    return "application/octet-stream"


@dataclass(slots=True)
class Upload:
    """A file part of a multipart request (or of a control-API upload)."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class StoredFile:
    """A file known to the emulator, addressable by ``file_id`` and by its getFile ``file_path``."""

    file_id: str
    file_unique_id: str
    kind: str
    data: bytes
    file_name: str | None
    mime_type: str
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def to_api_file(self) -> dict[str, Any]:
        """The Bot API ``File`` object answered by getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def media(self, kind: str, extra: dict[str, Any] | None = None) -> Any:
        """The Bot API media object for a message: a PhotoSize list for photos, an object otherwise."""
        base: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        base["file_size"] = self.size
        if kind == "photo":
            return [{**base, "width": self.width, "height": self.height}]
        extra = extra or {}
        if kind in ("video", "animation"):
            base["width"] = int(extra.get("width") or self.width or 0)
            base["height"] = int(extra.get("height") or self.height or 0)
        if kind in ("video", "animation", "audio", "voice"):
            base["duration"] = int(extra.get("duration") or 0)
        if kind == "audio":
            for key in ("performer", "title"):
                if extra.get(key):
                    base[key] = extra[key]
        if kind != "voice" and self.file_name:
            base["file_name"] = self.file_name
        base["mime_type"] = self.mime_type
        return base


class FileStore:
    """All files, in memory: the sandbox is for demos and tests, never for production volumes."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self.by_path: dict[str, StoredFile] = {}
        self._counter = 0

    def clear(self) -> None:
        """Forget every file."""
        self.by_id.clear()
        self.by_path.clear()

    def add(self, data: bytes, *, kind: str, file_name: str | None = None, mime_type: str | None = None) -> StoredFile:
        """Store new content and give it fresh ids (a photo's size is read with Pillow)."""
        mime = sniff_mime(data, file_name, mime_type)
        width = height = 0
        if kind == "photo" or (mime.startswith("image/") and kind in ("document", "animation")):
            size = image_size(data)
            if size:
                width, height = size
        ext = mimetypes.guess_extension(mime) or ""
        if ext == ".jpe":
            ext = ".jpg"
        path = f"{_DIRS.get(kind, 'documents')}/file_{self._counter}{ext}"
        self._counter += 1
        unique = "AQAD" + hashlib.sha256(data).hexdigest()[:16]
        file_id = f"{_ID_PREFIX.get(kind, 'BQAC')}{secrets.token_urlsafe(30)}"
        stored = StoredFile(file_id, unique, kind, data, file_name, mime, path, width, height)
        self.by_id[file_id] = stored
        self.by_path[path] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """Look a file up by ``file_id``."""
        return self.by_id.get(file_id)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an image, or None when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def check_photo(data: bytes, config: EmulatorConfig) -> None:
    """Apply Telegram's photo rules: ≤ 10 MB, a real image, w+h ≤ 10000, aspect ratio ≤ 20."""
    if len(data) > config.max_photo_upload:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    size = image_size(data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    if width + height > 10000 or max(width, height) > 20 * max(min(width, height), 1):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


class InputFileResolver:
    """Turns a media parameter (upload, ``attach://``, URL or file_id) into a stored file."""

    def __init__(self, store: FileStore, config: EmulatorConfig, http: aiohttp.ClientSession | None) -> None:
        self.store = store
        self.config = config
        self.http = http

    async def resolve(self, value: Any, uploads: dict[str, Upload], *, kind: str, field: str) -> StoredFile:
        """Resolve one media parameter for a message of ``kind``; raise Telegram's 400 errors."""
        if isinstance(value, Upload):
            return self._from_upload(value, kind)
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {field} in the request")
        if value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
            if upload is None:
                raise bad_request(f"there is no {field} in the request")
            return self._from_upload(upload, kind)
        if value.startswith(("http://", "https://")):
            return await self._from_url(value, kind)
        stored = self.store.get(value.strip())
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored

    def _from_upload(self, upload: Upload, kind: str) -> StoredFile:
        if not upload.data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            check_photo(upload.data, self.config)
        return self.store.add(upload.data, kind=kind, file_name=upload.filename, mime_type=upload.content_type)

    async def _from_url(self, url: str, kind: str) -> StoredFile:
        limit = self.config.max_photo_by_url if kind == "photo" else self.config.max_file_by_url
        if self.http is None:
            raise bad_request("failed to get HTTP URL content")
        try:
            async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=20)) as resp:
                if resp.status != 200:
                    raise bad_request("failed to get HTTP URL content")
                declared = resp.headers.get("Content-Type", "").split(";")[0].strip() or None
                buffer = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    buffer += chunk
                    if len(buffer) > limit:
                        break
                data = bytes(buffer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise bad_request("failed to get HTTP URL content") from exc
        if len(data) > limit:
            raise bad_request("failed to get HTTP URL content")
        name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or None
        mime = sniff_mime(data, name, declared)
        if kind == "document" and mime not in _DOCUMENT_URL_TYPES:
            raise bad_request("wrong type of the web page content")
        if kind == "photo":
            if not mime.startswith("image/"):
                raise bad_request("wrong type of the web page content")
            check_photo(data, self.config)
        return self.store.add(data, kind=kind, file_name=name, mime_type=mime)
