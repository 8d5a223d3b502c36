"""Bot API errors with Telegram's status codes and description texts."""

from __future__ import annotations

from typing import Any


class BotApiError(Exception):
    """An error the emulator answers with ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(message: str) -> BotApiError:
    """A 400 error; Telegram prefixes every such description with ``Bad Request:``."""
    return BotApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> BotApiError:
    """A 403 error, e.g. when the user blocked the bot."""
    return BotApiError(403, f"Forbidden: {message}")


def conflict(message: str) -> BotApiError:
    """A 409 error (webhook set while polling, or a second poller)."""
    return BotApiError(409, f"Conflict: {message}")


def too_many_requests(retry_after: int) -> BotApiError:
    """A 429 error carrying ``parameters.retry_after`` which aiogram turns into ``TelegramRetryAfter``."""
    return BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


UNAUTHORIZED = BotApiError(401, "Unauthorized")
NOT_FOUND = BotApiError(404, "Not Found")
ENTITY_TOO_LARGE = BotApiError(413, "Request Entity Too Large")

MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
