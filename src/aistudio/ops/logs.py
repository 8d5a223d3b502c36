"""Logging: JSON lines in production (plain text in the demo), with the ids of what is being handled, and no
secret ever written.

Context: `request_id` (the `RQ-` code the user sees), `update_id`, `user_id` and `generation_id` live in
context variables set by the update middleware and the delivery wrapper; every record picks them up.
Secrets: `SecretRedactor` knows every configured secret (each `SecretStr` setting, passwords in URLs, the
bot token's secret half) and replaces it, in whatever form it appears (raw, JSON-escaped, URL-quoted), in
the message, its arguments, the traceback and any extra field, before a handler writes the record.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, urlsplit

from pydantic import SecretStr

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words; no real secret is that short

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("aistudio_request_id", default=None)
update_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("aistudio_update_id", default=None)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("aistudio_user_id", default=None)
generation_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("aistudio_generation_id", default=None)

CONTEXT_FIELDS = ("request_id", "update_id", "user_id", "generation_id")
_VARS = (request_id_var, update_id_var, user_id_var, generation_id_var)
_RQ = re.compile(r"\bRQ-[23456789A-HJ-NP-Z]{8}\b")
# Attributes every LogRecord has; anything else on a record came from `extra=` and is written as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", *CONTEXT_FIELDS}


def set_update_context(*, request_id: str | None, update_id: int | None, user_id: int | None) -> None:
    """Called once per update, in the task handling it (each update runs in a task of its own)."""
    request_id_var.set(request_id)
    update_id_var.set(update_id)
    user_id_var.set(user_id)
    generation_id_var.set(None)


@contextmanager
def generation_context(generation_id: int, request_id: str | None, user_id: int | None) -> Iterator[None]:
    """Log lines inside the block carry this generation's ids (the worker's tasks have no update)."""
    tokens = [
        generation_id_var.set(generation_id),
        request_id_var.set(request_id),
        user_id_var.set(user_id),
    ]
    try:
        yield
    finally:
        for var, token in zip((generation_id_var, request_id_var, user_id_var), tokens, strict=True):
            var.reset(token)


def current_context() -> dict[str, Any]:
    return {name: var.get() for name, var in zip(CONTEXT_FIELDS, _VARS, strict=True)}


# ---- secrets -------------------------------------------------------------------------------------------


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def secrets_of(settings: Any, extra: Iterable[str | None] = ()) -> list[str]:
    """Every secret value in `settings`: each `SecretStr` field, passwords inside URLs, the bot token's
    secret half, plus `extra` (e.g. the derived callback-signing secret)."""
    values: list[str | None] = list(extra)
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            values.append(secret)
            if name == "telegram_bot_token" and ":" in secret:
                values.append(secret.split(":", 1)[1])
        elif isinstance(value, str) and "://" in value:
            values.append(_url_password(value))
    return [v for v in dict.fromkeys(values) if v and len(v) >= MIN_SECRET_LENGTH]


class SecretRedactor(logging.Filter):
    """A handler filter: renders the record's message and traceback with every secret replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._pattern: re.Pattern[str] | None = None
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.update({secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret)})
        # Longest first, so a token is replaced whole before its secret half is looked for.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None

    def redact(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what is there, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = self.redact(value)
        return True


# ---- formatters ----------------------------------------------------------------------------------------


def _context_for(record: logging.LogRecord, message: str) -> dict[str, Any]:
    context = current_context()
    if context["request_id"] is None:
        # Generation logs name the request in their message ("generation RQ-… : …"): lift it out.
        found = _RQ.search(message)
        if found:
            context["request_id"] = found.group(0)
    return context


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context ids that are known, exc, extras."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": message,
        }
        entry.update({k: v for k, v in _context_for(record, message).items() if v is not None})
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry.setdefault(key, value if isinstance(value, int | float | bool | None) else str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2025-01-31 10:00:00,000 INFO name [RQ-… upd=1 user=2 gen=3]: message` — for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ctx)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = _context_for(record, record.getMessage())
        parts = [context["request_id"]] if context["request_id"] else []
        for label, key in (("upd", "update_id"), ("user", "user_id"), ("gen", "generation_id")):
            if context[key] is not None:
                parts.append(f"{label}={context[key]}")
        record.ctx = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


# ---- set-up --------------------------------------------------------------------------------------------

_HANDLER_NAME = "aistudio"
QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "alembic.runtime.migration": logging.WARNING,  # `/readyz` reads the schema revision on every probe
}


def configure_logging(
    *, fmt: str = "text", level: str | int = "INFO", secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """Install the one root handler (replacing an earlier one of ours); returns it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(SecretRedactor(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name, quiet in QUIET_LOGGERS.items():
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(quiet)
    return handler
