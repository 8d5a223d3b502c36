"""Telegram's limits: send rates (429 + retry_after), text and caption lengths, keyboard rules."""

from __future__ import annotations

import json
import math
import time
from typing import Any
from urllib.parse import urlsplit

from .config import RateLimits
from .errors import bad_request, too_many_requests

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


class TokenBucket:
    """Classic token bucket: ``rate`` tokens per second, at most ``burst`` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is available now); refills first."""
        elapsed = max(0.0, now - self.stamp)  # a bucket created after ``now`` was read must not go negative
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.stamp = max(self.stamp, now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        """Consume one token (call only after ``wait_time`` returned 0)."""
        self.tokens -= 1


class RateLimiter:
    """Per-chat and global send budgets. Disabled by default; tests switch them on to check throttling."""

    def __init__(self, config: RateLimits) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Refill every bucket (used by ``/sandbox/reset`` and whenever the configuration changes)."""
        self._global = TokenBucket(self.config.global_rate, self.config.global_burst)
        self._chats: dict[int, TokenBucket] = {}

    def check(self, chat_id: int, *, edit: bool = False) -> None:
        """Consume one message from the budgets or raise 429 with ``retry_after`` in whole seconds."""
        cfg = self.config
        if not cfg.enabled or (edit and not cfg.count_edits):
            return
        now = time.monotonic()
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = self._chats[chat_id] = TokenBucket(cfg.per_chat_rate, cfg.per_chat_burst)
        wait = bucket.wait_time(now)
        if not edit:  # Telegram's global ~30/s limit is about sending, edits only count per chat
            wait = max(wait, self._global.wait_time(now))
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        bucket.take()
        if not edit:
            self._global.take()


def check_text(text: str, limit: int) -> None:
    """Message text must be non-empty and at most ``limit`` characters after entity parsing."""
    if not text:
        raise bad_request("message text is empty")
    if len(text) > limit:
        raise bad_request("message is too long")


def check_caption(caption: str, limit: int) -> None:
    """Captions are at most ``limit`` characters after entity parsing."""
    if len(caption) > limit:
        raise bad_request("message caption is too long")


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def parse_reply_markup(raw: Any, *, inline_only: bool = False) -> tuple[str, dict[str, Any]] | None:
    """Validate a reply_markup parameter; return (kind, clean markup) with kind inline/reply/remove/force.

    aiogram's models accept shapes Telegram refuses (a button with no action, over-long callback_data),
    so the rules Telegram enforces server-side are checked here.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        return "inline", {"inline_keyboard": _inline_rows(raw["inline_keyboard"])}
    if inline_only:
        raise bad_request("can't parse inline keyboard markup JSON object")
    if "keyboard" in raw:
        rows = raw["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request('field "keyboard" must be an Array of Arrays')
        clean_rows = []
        for row in rows:
            clean_row = []
            for button in row:
                button = {"text": button} if isinstance(button, str) else button
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
                clean_row.append(_clean(button))
            clean_rows.append(clean_row)
        markup = _clean({**raw, "keyboard": clean_rows})
        return "reply", markup
    if raw.get("remove_keyboard"):
        return "remove", _clean(raw)
    if raw.get("force_reply"):
        return "force", _clean(raw)
    raise bad_request("can't parse reply keyboard markup JSON object")


def _inline_rows(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request('field "inline_keyboard" must be an Array of Arrays')
    clean_rows = []
    for row in rows:
        clean_row = []
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            button = _clean(button)
            if not isinstance(button.get("text"), str) or not button["text"]:
                raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
            actions = [key for key in INLINE_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not _valid_button_url(url):
                    raise bad_request("BUTTON_URL_INVALID")
            clean_row.append(button)
        clean_rows.append(clean_row)
    return clean_rows


def _valid_button_url(url: str) -> bool:
    # Telegram refuses button URLs without a public-looking host (e.g. http://localhost:8080).
    parts = urlsplit(url)
    if parts.scheme == "tg":
        return bool(parts.netloc or parts.path)
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and host != "localhost"
