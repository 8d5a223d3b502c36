"""The one HTTP client for Kie.ai: envelopes, typed errors, safe retries, uploads and downloads.

Retry policy (why it differs per call):
- Queries (recordInfo, credit, catalog, download) change nothing, so they are retried with jittered
  exponential backoff on 5xx, 429, network errors and unreadable answers.
- Create requests start paid work. A definite refusal (429, 455, 5xx answered in the body) created nothing
  and is raised as is for the caller to retry. When the outcome is unknown (timeout or broken connection
  after the request left, unreadable answer) we raise `KieSubmitUnknown` and never re-send, because a
  second task would be billed twice.
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import os
import random
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from aistudio.kie.errors import (
    KieError,
    KieFileTooLarge,
    KieNotFound,
    KieRateLimited,
    KieSubmitUnknown,
    KieUnavailable,
)
from aistudio.kie.parsing import parse_market_record, to_decimal
from aistudio.kie.types import TaskStatus, UploadedFile
from aistudio.kie.wire import default_transport, read_envelope, transport_error

DEFAULT_API_BASE = "https://api.kie.ai"
DEFAULT_UPLOAD_BASE = "https://kieai.redpandaai.co"

UploadData = bytes | AsyncIterable[bytes]


def _safe_filename(name: str) -> str:
    # A quote or a line break would break the multipart header; Kie derives paths from the name anyway.
    return name.replace('"', "%22").replace("\r", "").replace("\n", "")


async def _multipart(
    boundary: str, fields: dict[str, str], filename: str, mime: str, data: UploadData
) -> AsyncIterator[bytes]:
    """A multipart/form-data body streamed chunk by chunk, so large files never sit in memory twice."""
    for name, value in fields.items():
        yield f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{_safe_filename(filename)}"\r\nContent-Type: {mime}\r\n\r\n'
    ).encode()
    if isinstance(data, bytes | bytearray):
        yield bytes(data)
    else:
        async for chunk in data:
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def _uploaded(data: Any) -> UploadedFile:
    if not isinstance(data, dict):
        raise KieUnavailable(200, f"upload answer has no file data: {data!r}")
    url = data.get("downloadUrl") or data.get("fileUrl")
    if not url:
        raise KieUnavailable(200, "upload answer has no downloadUrl")
    size = data.get("fileSize")
    return UploadedFile(
        url=str(url),
        size=int(size) if isinstance(size, int | float) else None,
        file_name=data.get("fileName"),
        file_path=data.get("filePath"),
        mime_type=data.get("mimeType"),
        raw=data,
    )


class KieClient:
    """Kie.ai over one shared `httpx.AsyncClient`; build one per process and `aclose()` it at shutdown."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_BASE,
        upload_base_url: str = DEFAULT_UPLOAD_BASE,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        upload_timeout: float = 120.0,
        max_connections: int = 100,
        get_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._upload_base = upload_base_url.rstrip("/")
        self._upload_timeout = httpx.Timeout(upload_timeout, connect=connect_timeout)
        self._get_attempts = max(1, get_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()
        # Requests queue here, so that one enters the pool only when a connection is free: httpcore's pool
        # (the transport behind a proxy) slows down sharply when many requests queue inside it.
        self._gate = asyncio.Semaphore(max_connections)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # httpx's API over aiohttp's connection pool (as the OpenAI and Anthropic SDKs offer): the same requests
        # cost ~0.25 ms of CPU instead of ~1.2 ms with httpcore, which under a burst of results is the
        # difference between delivering at once and queueing (bench/generation.py).
        # No default Authorization header: result files live on other hosts and must not see our key.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=limits,
            transport=transport or default_transport(limits),
            follow_redirects=True,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> KieClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter so many workers do not retry in lockstep."""
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return ceiling * (0.5 + self._rng.random() / 2)

    async def _call(
        self,
        method: str,
        url: str,
        *,
        retry: bool,
        submit: bool = False,
        headers: dict[str, str] | None = None,
        body: Callable[[], dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One Kie API call returning `data`; `retry` only for calls that are safe to repeat.

        `body` builds the request body for each attempt (a streamed body can be read only once).
        """
        attempts = self._get_attempts if retry else 1
        attempt = 0
        while True:
            attempt += 1
            request_kwargs = {**kwargs, **(body() if body else {})}
            try:
                async with self._gate:
                    response = await self._http.request(
                        method, url, headers={**self._auth(), **(headers or {})}, **request_kwargs
                    )
                return read_envelope(response, submit=submit)
            except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
                error = transport_error(exc, submit=submit)
                if not error.retryable or attempt >= attempts:
                    raise error from exc
            except KieError as exc:
                if not exc.retryable or attempt >= attempts:
                    raise
            await self._sleep(self._backoff(attempt))

    async def query(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET an API path (retried when safe) and return the envelope's `data`."""
        return await self._call("GET", self._base + path, retry=True, params=params)

    async def submit(self, path: str, body: dict[str, Any]) -> Any:
        """POST a create request once; see the module docstring for what is raised when."""
        return await self._call("POST", self._base + path, retry=False, submit=True, json=body)

    # -- Market jobs API --------------------------------------------------------------------------

    async def create_market_task(self, model_id: str, input: dict[str, Any], callback_url: str | None = None) -> str:
        """Start a Market task and return its `taskId`."""
        body: dict[str, Any] = {"model": model_id, "input": input}
        if callback_url:
            body["callBackUrl"] = callback_url
        data = await self.submit("/api/v1/jobs/createTask", body)
        return task_id_from(data)

    async def market_record_info(self, task_id: str) -> TaskStatus:
        data = await self.query("/api/v1/jobs/recordInfo", {"taskId": task_id})
        if not isinstance(data, dict):
            raise KieNotFound(422, f"recordInfo is null for {task_id}")
        return parse_market_record(data)

    # -- account ----------------------------------------------------------------------------------

    async def credit_balance(self) -> Decimal:
        """Credits left on the operator's Kie account."""
        data = await self.query("/api/v1/chat/credit")
        amount = to_decimal(data)
        if amount is None:
            raise KieUnavailable(200, f"credit answer is not a number: {data!r}")
        return amount

    # -- files ------------------------------------------------------------------------------------

    async def upload_stream(
        self,
        data: UploadData,
        filename: str,
        upload_path: str = "aistudio",
        *,
        mime_type: str | None = None,
    ) -> UploadedFile:
        """Multipart upload to `/api/file-stream-upload`; bytes are retried, a one-shot stream is not."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        boundary = "aistudio" + secrets.token_hex(12)
        fields = {"uploadPath": upload_path, "fileName": filename}
        result = await self._call(
            "POST",
            self._upload_base + "/api/file-stream-upload",
            retry=isinstance(data, bytes | bytearray),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            body=lambda: {"content": _multipart(boundary, fields, filename, mime, data)},
            timeout=self._upload_timeout,
        )
        return _uploaded(result)

    async def upload_base64(
        self,
        data: bytes | str,
        upload_path: str = "aistudio",
        filename: str | None = None,
        *,
        mime_type: str | None = None,
    ) -> UploadedFile:
        """Upload small files as base64 (`/api/file-base64-upload`); a `data:` URL string is sent as is."""
        if isinstance(data, bytes | bytearray):
            mime = mime_type or (mimetypes.guess_type(filename)[0] if filename else None)
            encoded = base64.b64encode(bytes(data)).decode("ascii")
            payload = f"data:{mime};base64,{encoded}" if mime else encoded
        else:
            payload = data
        body: dict[str, Any] = {"base64Data": payload, "uploadPath": upload_path}
        if filename:
            body["fileName"] = filename
        # Safe to repeat: the same name overwrites, and a repeated unnamed upload only leaves a spare file.
        result = await self._call(
            "POST",
            self._upload_base + "/api/file-base64-upload",
            retry=True,
            json=body,
            timeout=self._upload_timeout,
        )
        return _uploaded(result)

    async def upload_url(self, url: str, upload_path: str = "aistudio", filename: str | None = None) -> UploadedFile:
        """Let Kie fetch a public URL (30 s limit on Kie's side) and keep it as an upload."""
        body: dict[str, Any] = {"fileUrl": url, "uploadPath": upload_path}
        if filename:
            body["fileName"] = filename
        result = await self._call(
            "POST",
            self._upload_base + "/api/file-url-upload",
            retry=True,
            json=body,
            timeout=self._upload_timeout,
        )
        return _uploaded(result)

    async def download_url(self, result_url: str) -> str:
        """Turn a Kie result URL into a download link valid for 20 minutes."""
        data = await self._call(
            "POST", self._base + "/api/v1/common/download-url", retry=True, json={"url": result_url}
        )
        if not isinstance(data, str) or not data:
            raise KieUnavailable(200, f"download-url answer is not a URL: {data!r}")
        return data

    async def download(
        self, url: str, *, max_bytes: int, to_path: str | os.PathLike[str] | None = None
    ) -> bytes | Path:
        """Fetch a result file (no API key sent: results live on other hosts).

        Returns the bytes, or the path when `to_path` is given (written atomically). Raises
        `KieFileTooLarge` past `max_bytes`, `KieNotFound` when the URL expired, `KieUnavailable` otherwise.
        """
        for attempt in range(1, self._get_attempts + 1):
            try:
                return await self._download_once(url, max_bytes, to_path)
            except (TimeoutError, httpx.TransportError, aiohttp.ClientError) as exc:
                error: KieError = KieUnavailable(None, f"download failed: {type(exc).__name__}: {exc}")
                if attempt >= self._get_attempts:
                    raise error from exc
            except KieError as exc:
                if not exc.retryable or attempt >= self._get_attempts:
                    raise
            await self._sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # the loop always returns or raises

    async def _download_once(self, url: str, max_bytes: int, to_path: str | os.PathLike[str] | None) -> bytes | Path:
        async with self._gate, self._http.stream("GET", url) as response:
            status = response.status_code
            if status in (404, 410):
                raise KieNotFound(status, f"result file is gone: {url}")
            if status == 429:
                raise KieRateLimited(status, "download rate limited")
            if status >= 500:
                raise KieUnavailable(status, f"download answered HTTP {status}")
            if not response.is_success:
                raise KieError(status, f"download answered HTTP {status}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise KieFileTooLarge(None, f"file is {declared} bytes, limit {max_bytes}")
            if to_path is None:
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        raise KieFileTooLarge(None, f"file exceeds {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks)
            return await _stream_to_file(response, Path(to_path), max_bytes)

    # -- catalog endpoints (undocumented, used for model sync) ------------------------------------

    async def list_models(self) -> list[dict[str, Any]]:
        data = await self.query("/api/v1/models")
        if isinstance(data, dict):
            data = data.get("models") or data.get("records") or []
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    async def model_schema(self, model: str) -> dict[str, Any]:
        """The OpenAPI document of a model's create request (`data.openapi`) and its metadata."""
        # Kie expects the raw id with its slash in the path, not %2F.
        data = await self.query(f"/api/v1/models/{model}/schema")
        if not isinstance(data, dict):
            raise KieNotFound(404, f"no schema for {model}")
        return data

    async def model_price(self, model: str) -> str | None:
        """Kie's price text (`pricingDesc`) for a model."""
        data = await self.query(f"/api/v1/models/{model}/price")
        if isinstance(data, dict):
            text = data.get("pricingDesc")
            return str(text) if text is not None else None
        return str(data) if data is not None else None


def task_id_from(data: Any) -> str:
    """The `taskId` of a create answer; a success without one leaves the outcome unknown."""
    task_id = data.get("taskId") or data.get("task_id") if isinstance(data, dict) else None
    if not task_id:
        raise KieSubmitUnknown(200, f"create answer has no taskId: {data!r}")
    return str(task_id)


async def _stream_to_file(response: httpx.Response, path: Path, max_bytes: int) -> Path:
    """Write to a temporary name and rename, so a half-written file never looks complete."""
    partial = path.with_name(path.name + ".part")
    total = 0
    try:
        with partial.open("wb") as fh:
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise KieFileTooLarge(None, f"file exceeds {max_bytes} bytes")
                fh.write(chunk)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path
