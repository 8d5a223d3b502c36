"""Typed Kie.ai errors and the one mapping from Kie's (code, message) to them.

Kie answers most errors with HTTP 200 and a non-200 `code` in the body, so the body code decides the
error type here, not the HTTP status. Each error says whether an automatic retry of the *same* call is
safe and may succeed (`retryable`); the generation service decides what the user sees.
"""

from __future__ import annotations

from typing import Any

# Phrases Kie uses when a prompt or an image is refused by moderation; a 400 with any of them is a
# content-policy refusal (tell the user to rephrase), any other 400 is a plain input problem.
_POLICY_MARKERS = (
    "content policy",
    "content policies",
    "sensitive",
    "flagged",
    "nsfw",
    "prohibited",
    "violat",
    "unsafe",
    "moderation",
)
# Kie reports an unknown task id as 422 "recordInfo is null" rather than 404.
_NOT_FOUND_MARKERS = ("recordinfo is null", "not found", "not exist", "no such task")


class KieError(Exception):
    """Any failure talking to Kie; `code` and `message` are Kie's own when Kie answered."""

    retryable: bool = False

    def __init__(self, code: int | None, message: str, *, retryable: bool | None = None) -> None:
        self.code = code
        self.message = message
        if retryable is not None:
            self.retryable = retryable
        super().__init__(f"Kie error {code}: {message}" if code is not None else f"Kie error: {message}")


class KieInvalidInput(KieError):
    """422 (and non-policy 400): the request's parameters are wrong; Kie's message names the field."""


class KieContentPolicy(KieError):
    """The prompt or a file was refused by moderation (400 content policy / sensitive word)."""


class KieInsufficientCredits(KieError):
    """402: the operator's Kie account is out of credits. Never the user's fault; alert admins."""


class KieRateLimited(KieError):
    """429 (and 433 sub-key caps): rejected, not queued; try again after a pause."""

    retryable = True


class KieUnavailable(KieError):
    """455 maintenance, 5xx, network errors, timeouts and unreadable answers."""

    retryable = True


class KieSubmitUnknown(KieUnavailable):
    """A create request may or may not have created a task (timeout or broken answer after sending).

    Re-sending could start (and bill) a second task, so it is never retried automatically; the caller
    should look for the task (e.g. wait for the callback carrying our generation id) before deciding.
    """

    retryable = False


class KieGenerationFailed(KieError):
    """501 or a task that ended in `fail`: Kie tried and produced nothing. Refund the user."""


class KieAuthError(KieError):
    """401: the API key is missing or wrong."""


class KieNotFound(KieError):
    """404, or a query for a task id Kie does not know ("recordInfo is null")."""


class KieFileTooLarge(KieError):
    """A download exceeded the size limit we set; the file was not kept."""


def _as_int(code: Any) -> int | None:
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def is_policy_message(message: str) -> bool:
    """Whether Kie's text says moderation refused the request."""
    text = message.lower()
    return any(marker in text for marker in _POLICY_MARKERS)


def error_for(code: Any, message: str | None) -> KieError:
    """Map Kie's body `code` (an int, or a numeric string as in task `failCode`) and message to an error."""
    number = _as_int(code)
    text = message or ""
    lowered = text.lower()
    if number == 401:
        return KieAuthError(number, text)
    if number == 402:
        return KieInsufficientCredits(number, text)
    if number == 404 or (number == 422 and any(m in lowered for m in _NOT_FOUND_MARKERS)):
        return KieNotFound(number, text)
    if number in (429, 433):
        # 433 is a key's hourly/daily cap: it resets later, but not within a retry loop.
        return KieRateLimited(number, text, retryable=number == 429)
    if number == 455:
        return KieUnavailable(number, text)
    if number in (501, 408):
        # 408: upstream produced nothing for over 10 minutes; the task is over.
        if is_policy_message(text):
            return KieContentPolicy(number, text)
        return KieGenerationFailed(number, text)
    if number == 505:
        return KieUnavailable(number, text, retryable=False)  # feature disabled: waiting will not help
    if number is not None and number >= 500:
        return KieUnavailable(number, text)
    if number in (400, 451, 422) or (number is not None and 400 <= number < 500):
        if is_policy_message(text):
            return KieContentPolicy(number, text)
        return KieInvalidInput(number, text)
    if is_policy_message(text):
        return KieContentPolicy(number, text)
    return KieGenerationFailed(number, text)
