"""The control API under ``/sandbox/``: act as users, read transcripts and the call log, wait, configure."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import actions
from .actions import ActionError
from .files import MEDIA_KINDS, Upload
from .state import SandboxUser
from .transcript import message_view, transcript

if TYPE_CHECKING:
    from .emulator import Emulator
    from .state import Chat

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("telegram_emulator")
routes = web.RouteTableDef()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Strict):
    """Body of ``POST /sandbox/users``."""

    id: int | None = Field(None, gt=0, lt=2**52)
    first_name: str = Field(min_length=1, max_length=64)
    last_name: str | None = Field(None, max_length=64)
    username: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
    language_code: str | None = Field(None, pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    is_premium: bool = False


class NewUsers(_Strict):
    """Body of ``POST /sandbox/users/bulk`` (benchmarks: thousands of users in one request)."""

    users: list[NewUser] = Field(min_length=1, max_length=100_000)


class TextMessage(_Strict):
    """Body of ``POST /sandbox/users/{id}/messages`` (JSON form)."""

    text: str = Field(min_length=1, max_length=4096)
    reply_to_message_id: int | None = Field(None, gt=0)


class Press(_Strict):
    """Body of ``POST /sandbox/users/{id}/press``."""

    message_id: int | None = Field(None, gt=0)
    text: str | None = None
    callback_data: str | None = None
    wait: float = Field(0.0, ge=0, le=30)

    @model_validator(mode="after")
    def _need_button(self) -> Press:
        if self.text is None and self.callback_data is None:
            raise ValueError("give the button's text or callback_data")
        if self.callback_data is not None and self.message_id is None:
            raise ValueError("pressing an inline button needs message_id")
        return self


class Pay(_Strict):
    """Body of ``POST /sandbox/users/{id}/pay``."""

    message_id: int | None = Field(None, gt=0)
    invoice_link: str | None = None
    timeout: float | None = Field(None, ge=0, le=60)

    @model_validator(mode="after")
    def _need_invoice(self) -> Pay:
        if (self.message_id is None) == (self.invoice_link is None):
            raise ValueError("give exactly one of message_id or invoice_link")
        return self


class Block(_Strict):
    """Body of ``POST /sandbox/users/{id}/block``."""

    blocked: bool = True


class ConfigUpdate(_Strict):
    """Body of ``POST /sandbox/config``."""

    rate_limits: bool | None = None
    per_chat_rate: float | None = Field(None, gt=0)
    per_chat_burst: int | None = Field(None, ge=1)
    global_rate: float | None = Field(None, gt=0)
    global_burst: int | None = Field(None, ge=1)
    count_edits: bool | None = None
    callback_query_ttl: float | None = Field(None, gt=0)
    pre_checkout_timeout: float | None = Field(None, gt=0, le=60)


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    if request.content_type != "application/json" and request.body_exists:
        raise web.HTTPUnsupportedMediaType(
            text=json.dumps({"error": "send a JSON body (Content-Type: application/json)"}),
            content_type="application/json",
        )
    try:
        raw = await request.json() if request.body_exists else {}
    except ValueError:
        raise _http(400, "the body is not valid JSON") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = [{"field": ".".join(map(str, e["loc"])) or "(body)", "message": e["msg"]} for e in exc.errors()]
        raise _http(400, "invalid request", details=details) from None


def _http(status: int, message: str, **extra: Any) -> web.HTTPException:
    text = json.dumps({"error": message, **extra})
    if status == 413:
        return web.HTTPRequestEntityTooLarge(0, text=text, content_type="application/json")
    cls = {404: web.HTTPNotFound, 409: web.HTTPConflict}.get(status, web.HTTPBadRequest)
    return cls(text=text, content_type="application/json")


def _chat(request: web.Request) -> tuple[Emulator, Chat]:
    emu = request.app[EMULATOR_KEY]
    raw = request.match_info["user_id"]
    if not raw.isdigit():
        raise _http(400, "user id must be a positive integer")
    chat = emu.state.chats.get(int(raw))
    if chat is None:
        raise _http(404, f"user {raw} not found; create it with POST /sandbox/users")
    return emu, chat


def _float_query(request: web.Request, name: str, default: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _http(400, f"{name} must be a number") from None
    if not 0 <= value <= high:
        raise _http(400, f"{name} must be between 0 and {high:g}")
    return value


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise _http(400, f"{name} must be an integer")
    return int(raw)


@routes.post("/sandbox/users")
async def create_user(request: web.Request) -> web.Response:
    """Create (201) or update (200) a user; the private chat with the bot exists from now on."""
    emu = request.app[EMULATOR_KEY]
    body: NewUser = await _body(request, NewUser)
    user = SandboxUser(
        id=body.id or emu.state.next_user_id(),
        first_name=body.first_name,
        last_name=body.last_name,
        username=body.username,
        language_code=body.language_code,
        is_premium=body.is_premium,
    )
    _, created = emu.state.upsert_user(user)
    return web.json_response({"user": user.to_api(), "created": created}, status=201 if created else 200)


@routes.post("/sandbox/users/bulk")
async def create_users(request: web.Request) -> web.Response:
    """Create or update many users at once; answers how many were new."""
    emu = request.app[EMULATOR_KEY]
    body: NewUsers = await _body(request, NewUsers)
    created = 0
    for new in body.users:
        user = SandboxUser(
            id=new.id or emu.state.next_user_id(),
            first_name=new.first_name,
            last_name=new.last_name,
            username=new.username,
            language_code=new.language_code,
            is_premium=new.is_premium,
        )
        created += emu.state.upsert_user(user)[1]
    return web.json_response({"created": created, "total": len(body.users)}, status=201)


@routes.get("/sandbox/users")
async def list_users(request: web.Request) -> web.Response:
    """Every user with their chat's version and message count."""
    emu = request.app[EMULATOR_KEY]
    users = [
        {"user": c.user.to_api(), "version": c.version, "messages": len(c.messages), "blocked": c.blocked}
        for c in emu.state.chats.values()
    ]
    return web.json_response({"users": users})


@routes.post("/sandbox/users/{user_id}/messages")
async def user_message(request: web.Request) -> web.Response:
    """The user sends text (JSON) or a file (multipart: ``file`` or a field named after the kind)."""
    emu, chat = _chat(request)
    try:
        if request.content_type.startswith("multipart/"):
            result = await _file_message(request, emu, chat)
        elif request.content_type == "application/x-www-form-urlencoded":
            raise _http(400, 'send JSON {"text": ...} or multipart/form-data with a file part')
        else:
            body: TextMessage = await _body(request, TextMessage)
            result = actions.send_text(emu, chat, body.text, body.reply_to_message_id)
    except ActionError as exc:
        return _error(exc.status, exc.message, **exc.extra)
    return web.json_response(result, status=201)


async def _file_message(request: web.Request, emu: Emulator, chat: Chat) -> dict[str, Any]:
    reader = await request.multipart()
    fields: dict[str, str] = {}
    upload: Upload | None = None
    upload_field = ""
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        if part.filename is None:
            fields[part.name] = await part.text()
            continue
        data = bytearray()
        while chunk := await part.read_chunk():
            data += chunk
            if len(data) > emu.config.max_upload:
                raise _http(413, f"the file is larger than {emu.config.max_upload} bytes")
        upload, upload_field = Upload(part.filename, part.headers.get("Content-Type"), bytes(data)), part.name
    if upload is None:
        raise _http(400, "attach a file part (named 'file' or after its kind, e.g. 'photo')")
    kind = fields.get("kind") or (upload_field if upload_field in MEDIA_KINDS else "document")
    if kind not in MEDIA_KINDS:
        raise _http(400, f"kind must be one of {', '.join(MEDIA_KINDS)}")
    caption = fields.get("caption") or None
    if caption is not None and len(caption) > 1024:
        raise _http(400, "caption must be at most 1024 characters")
    return actions.send_file(emu, chat, kind, upload, caption)


@routes.post("/sandbox/users/{user_id}/press")
async def press(request: web.Request) -> web.Response:
    """Press a button (inline: by message_id and text or callback_data; reply keyboard: by text)."""
    emu, chat = _chat(request)
    body: Press = await _body(request, Press)
    try:
        result = await actions.press(
            emu,
            chat,
            message_id=body.message_id,
            text=body.text,
            callback_data=body.callback_data,
            wait=body.wait,
        )
    except ActionError as exc:
        return _error(exc.status, exc.message, **exc.extra)
    return web.json_response(result)


@routes.post("/sandbox/users/{user_id}/pay")
async def pay(request: web.Request) -> web.Response:
    """Pay an invoice message or invoice link; waits for the bot's pre-checkout answer."""
    emu, chat = _chat(request)
    body: Pay = await _body(request, Pay)
    try:
        if body.message_id is not None:
            stored = chat.messages.get(body.message_id)
            if stored is None or stored.deleted:
                raise ActionError(404, f"message {body.message_id} not found in this chat")
            result = await actions.pay_message(emu, chat, stored, body.timeout)
        else:
            result = await actions.pay_link(emu, chat, body.invoice_link or "", body.timeout)
    except ActionError as exc:
        return _error(exc.status, exc.message, **exc.extra)
    return web.json_response(result)


@routes.post("/sandbox/users/{user_id}/block")
async def block(request: web.Request) -> web.Response:
    """Block (or with ``{"blocked": false}`` unblock) the bot."""
    emu, chat = _chat(request)
    body: Block = await _body(request, Block)
    return web.json_response(actions.set_blocked(emu, chat, body.blocked))


@routes.get("/sandbox/users/{user_id}/transcript")
async def get_transcript(request: web.Request) -> web.Response:
    """Every message both ways; ``?after_version=`` limits it to messages changed since."""
    emu, chat = _chat(request)
    return web.json_response(transcript(emu, chat, after_version=_int_query(request, "after_version")))


@routes.get("/sandbox/users/{user_id}/wait")
async def wait(request: web.Request) -> web.Response:
    """Wait for a bot message after ``after_message_id``, or for any change after ``after_version``."""
    emu, chat = _chat(request)
    after_message = _int_query(request, "after_message_id")
    after_version = _int_query(request, "after_version")
    if after_version is None:
        after_version = _int_query(request, "after")
    if (after_message is None) == (after_version is None):
        raise _http(400, "give exactly one of after_message_id or after_version")
    timeout = _float_query(request, "timeout", 5.0, 60.0)

    def bot_messages() -> list[Any]:
        return [m for m in chat.messages.values() if m.outgoing and m.message_id > (after_message or 0)]

    if after_message is not None:
        ok = await emu.state.notifier.wait_for(lambda: bool(bot_messages()), timeout)
        views = [message_view(m) for m in bot_messages()]
    else:
        ok = await emu.state.notifier.wait_for(lambda: chat.version > (after_version or 0), timeout)
        views = [message_view(m) for m in chat.messages.values() if m.version > (after_version or 0)]
    return web.json_response({"timed_out": not ok, "version": chat.version, "messages": views})


@routes.get("/sandbox/calls")
async def calls(request: web.Request) -> web.Response:
    """The Bot API call log; ``?method=a,b`` filters (case-insensitive), ``?since=<seq>``, ``?limit=``."""
    emu = request.app[EMULATOR_KEY]
    methods = {m.strip().lower() for m in request.query.get("method", "").split(",") if m.strip()}
    since = _int_query(request, "since") or 0
    limit = _int_query(request, "limit")
    if limit is not None and limit <= 0:
        raise _http(400, "limit must be positive")
    selected = [c.to_json() for c in emu.state.calls if c.seq > since and (not methods or c.method.lower() in methods)]
    if limit is not None:
        selected = selected[-limit:]
    last = emu.state.calls[-1].seq if emu.state.calls else since
    return web.json_response({"calls": selected, "last_seq": last}, dumps=lambda o: json.dumps(o, default=str))


@routes.post("/sandbox/reset")
async def reset(request: web.Request) -> web.Response:
    """Forget users, messages, files, payments, pending updates and the call log."""
    request.app[EMULATOR_KEY].reset()
    return web.json_response({"reset": True})


@routes.get("/sandbox/config")
async def get_config(request: web.Request) -> web.Response:
    """Current rate limits and timeouts."""
    return web.json_response(_config_view(request.app[EMULATOR_KEY]))


@routes.post("/sandbox/config")
async def set_config(request: web.Request) -> web.Response:
    """Switch rate limits on/off and tune them or the query timeouts."""
    emu = request.app[EMULATOR_KEY]
    body: ConfigUpdate = await _body(request, ConfigUpdate)
    limits = emu.config.rate_limits
    if body.rate_limits is not None:
        limits.enabled = body.rate_limits
    for key in ("per_chat_rate", "per_chat_burst", "global_rate", "global_burst", "count_edits"):
        value = getattr(body, key)
        if value is not None:
            setattr(limits, key, value)
    for key in ("callback_query_ttl", "pre_checkout_timeout"):
        value = getattr(body, key)
        if value is not None:
            setattr(emu.config, key, value)
    emu.limiter.reset()
    return web.json_response(_config_view(emu))


def _config_view(emu: Emulator) -> dict[str, Any]:
    limits = emu.config.rate_limits
    return {
        "rate_limits": limits.enabled,
        "per_chat_rate": limits.per_chat_rate,
        "per_chat_burst": limits.per_chat_burst,
        "global_rate": limits.global_rate,
        "global_burst": limits.global_burst,
        "count_edits": limits.count_edits,
        "callback_query_ttl": emu.config.callback_query_ttl,
        "pre_checkout_timeout": emu.config.pre_checkout_timeout,
    }


@routes.get("/sandbox/bot")
async def bot_info(request: web.Request) -> web.Response:
    """The emulated bot: its profile, webhook state and pending update count."""
    emu = request.app[EMULATOR_KEY]
    return web.json_response({"bot": emu.state.bot_user, "webhook": emu.hub.webhook_info()})


@routes.get("/sandbox/files/{file_id}")
async def download(request: web.Request) -> web.Response:
    """A file's bytes for the web chat (no token needed: the sandbox is local)."""
    stored = request.app[EMULATOR_KEY].files.get(request.match_info["file_id"])
    if stored is None:
        return _error(404, "file not found")
    return web.Response(body=stored.data, content_type=stored.mime_type)


@routes.get("/sandbox/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``{"version", "chat_id"}`` on every change (``?user_id=`` filters)."""
    emu = request.app[EMULATOR_KEY]
    only = _int_query(request, "user_id")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    queue = emu.state.notifier.subscribe()
    try:
        await response.write(f"data: {json.dumps({'version': emu.state.notifier.version})}\n\n".encode())
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event.get("closed"):
                break
            if only is None or event["chat_id"] in (None, only):
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        emu.state.notifier.unsubscribe(queue)
    return response
