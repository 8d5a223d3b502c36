"""Dispatch and validation of Bot API calls.

Parameters are accepted the ways Telegram accepts them (query string, urlencoded form, JSON, multipart),
decoded (nested objects arrive JSON-encoded in forms) and validated with aiogram's own method models, so
a call aiogram's models reject is rejected here too, with a Telegram-style 400.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import types
import typing
from functools import cache
from typing import TYPE_CHECKING, Any

import aiogram.methods as aiogram_methods
from aiogram.client.default import Default
from aiogram.methods import TelegramMethod
from aiohttp import BodyPartReader, MultipartReader, web
from pydantic import ValidationError

# Importing the handler modules registers their methods.
from . import api_messages, api_misc, api_payments  # noqa: F401
from .errors import ENTITY_TOO_LARGE, NOT_FOUND, BotApiError, bad_request
from .files import MEDIA_KINDS, Upload
from .registry import HANDLERS, ApiCall

if TYPE_CHECKING:
    from .emulator import Emulator

MODELS: dict[str, type[TelegramMethod[Any]]] = {
    obj.__api_method__.lower(): obj
    for obj in vars(aiogram_methods).values()
    if inspect.isclass(obj) and issubclass(obj, TelegramMethod) and isinstance(obj.__dict__.get("__api_method__"), str)
}
_JSON_START = frozenset('{["-0123456789tfn')


@cache
def _raw_string_fields(model: type[TelegramMethod[Any]]) -> frozenset[str]:
    """Fields typed plain ``str``: their form values are taken verbatim, never JSON-decoded."""
    raw = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        args = (
            typing.get_args(annotation)
            if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
            else (annotation,)
        )
        kinds = {a for a in args if a is not type(None) and a is not Default}
        if kinds == {str}:
            raw.add(field.alias or name)
    return frozenset(raw)


def decode_params(model: type[TelegramMethod[Any]], params: dict[str, Any]) -> dict[str, Any]:
    """JSON-decode form values of non-string fields (reply_markup, chat_id, booleans, lists...)."""
    raw = _raw_string_fields(model)
    decoded = {}
    for key, value in params.items():
        if isinstance(value, str) and key not in raw and value and value[0] in _JSON_START:
            with contextlib.suppress(ValueError):  # a file_id, URL or @username stays a string
                value = json.loads(value)
        decoded[key] = value
    return decoded


def _validation_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "missing":
        if field == "text":
            return "message text is empty"
        if field in MEDIA_KINDS or field == "media":
            return f"there is no {field} in the request"
        return f"{field} is empty" if field.endswith("_id") else f'parameter "{field}" is required'
    if field == "reply_markup":
        return "can't parse reply keyboard markup JSON object"
    if field == "chat_id":
        return "chat not found"
    return f'can\'t parse parameter "{field}": {error["msg"]}'


async def execute(emu: Emulator, method: str, params: dict[str, Any], uploads: dict[str, Upload]) -> Any:
    """Run one Bot API call and log it; raise :class:`BotApiError` as Telegram would fail it."""
    key = method.lower()
    model = MODELS.get(key)
    handler = HANDLERS.get(key)
    if model is None or handler is None:
        error = NOT_FOUND if model is None else bad_request(f"method {model.__api_method__} is not emulated")
        emu.state.record_call(method, params, error={"error_code": error.code, "description": error.description})
        raise error
    name = model.__api_method__
    for field in uploads.keys() & model.model_fields.keys():
        # A file sent directly as the field (Telegram allows it) is referenced like an attach:// part.
        params.setdefault(field, f"attach://{field}")
    decoded = decode_params(model, params)
    try:
        try:
            validated = model.model_validate(decoded)
        except ValidationError as exc:
            raise bad_request(_validation_message(exc)) from None
        result = await handler(emu, ApiCall(name, decoded, validated, uploads))
    except BotApiError as exc:
        emu.state.record_call(
            name, _loggable(decoded, uploads), error={"error_code": exc.code, "description": exc.description}
        )
        raise
    emu.state.record_call(name, _loggable(decoded, uploads), result=result)
    return result


def _loggable(params: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
    if not uploads:
        return params
    files = {
        k: {"filename": u.filename, "size": len(u.data), "content_type": u.content_type} for k, u in uploads.items()
    }
    return {**params, "_uploads": files}


async def read_params(request: web.Request, max_upload: int) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Collect parameters from the query string and the body (urlencoded, JSON or multipart)."""
    params: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.body_exists:
        return params, uploads
    if request.content_length is not None and request.content_length > max_upload:
        await _drain(request)
        raise ENTITY_TOO_LARGE
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        params.update(body)
    elif content_type.startswith("multipart/"):
        await read_multipart(
            await request.multipart(), params, uploads, max_upload, on_overflow=lambda: _drain(request)
        )
    else:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params, uploads


async def read_multipart(
    reader: MultipartReader,
    params: dict[str, Any],
    uploads: dict[str, Upload],
    max_upload: int,
    on_overflow: Any = None,
) -> None:
    """Read a multipart body; file parts become uploads (``attach://<name>`` or the field itself)."""
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        if part.filename is None:
            params[part.name] = await part.text()
            continue
        buffer = bytearray()
        while chunk := await part.read_chunk(256 * 1024):
            buffer += chunk
            total += len(chunk)
            if total > max_upload:
                if on_overflow is not None:
                    await on_overflow()
                raise ENTITY_TOO_LARGE
        uploads[part.name] = Upload(part.filename, part.headers.get("Content-Type"), bytes(buffer))


async def _drain(request: web.Request) -> None:
    # Read the rest of an oversized upload so the client receives our 413 instead of a reset connection.
    while await request.content.readany():
        pass
