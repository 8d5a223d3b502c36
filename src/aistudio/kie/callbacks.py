"""Kie callbacks: webhook signature checks, our own callback-URL tokens, and reading callback bodies.

Pure functions only; the web route calls them. A callback is a hint: whatever it says is confirmed with a
status query before money moves (ARCHITECTURE §5), which is why `parse_callback` returns a best-effort
`TaskStatus` rather than something to act on alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from aistudio.kie.errors import KieInvalidInput
from aistudio.kie.parsing import (
    flagged_status,
    json_field,
    parse_market_record,
    text_or_none,
    url_list,
)
from aistudio.kie.types import TaskState, TaskStatus

TIMESTAMP_HEADER = "X-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Webhook-Signature"


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def sign_callback(key: str | bytes, task_id: str, timestamp: int | str) -> str:
    """Kie's webhook signature: base64(HMAC-SHA256(key, "<taskId>.<timestamp>"))."""
    digest = hmac.new(_key_bytes(key), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Header names are case-insensitive; a plain dict from a test or a proxy may use any case.
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verify_callback(
    key: str | bytes, headers: Mapping[str, str], task_id: str, now: float, max_skew: int = 300
) -> bool:
    """True when the signature matches and the timestamp is within `max_skew` seconds of `now`."""
    timestamp = _header(headers, TIMESTAMP_HEADER)
    signature = _header(headers, SIGNATURE_HEADER)
    if not timestamp or not signature or not task_id:
        return False
    try:
        moment = int(timestamp.strip())
    except ValueError:
        return False
    if abs(now - moment) > max_skew:  # a replayed old callback, or a clock far off
        return False
    expected = sign_callback(key, task_id, timestamp.strip())
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


def callback_token(secret: str | bytes, generation_id: str | int) -> str:
    """A token for our callback URL proving the URL was made by us for this generation."""
    digest = hmac.new(_key_bytes(secret), f"kie-callback:{generation_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:32]


def check_callback_token(secret: str | bytes, generation_id: str | int, token: str) -> bool:
    return hmac.compare_digest(callback_token(secret, generation_id).encode(), token.encode())


def build_callback_url(base_url: str, secret: str | bytes, generation_id: str | int) -> str:
    """`<base>/kie/callback/<generation_id>/<token>`: matchable even before we stored the task id."""
    return f"{base_url.rstrip('/')}/kie/callback/{generation_id}/{callback_token(secret, generation_id)}"


def _code(body: Mapping[str, Any]) -> int | None:
    try:
        return int(body.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _failed(task_id: str, code: int | None, message: str | None, raw: dict[str, Any]) -> TaskStatus:
    return TaskStatus(
        task_id=task_id, state=TaskState.FAILED, fail_code=str(code or 501), fail_message=message, raw=raw
    )


def _suno(task_id: str, code: int | None, msg: str | None, data: dict[str, Any]) -> TaskStatus:
    stage = str(data.get("callbackType") or "").lower()
    if code != 200 or stage == "error":
        return _failed(task_id, code, msg, data)
    if stage != "complete":  # "text" and "first" arrive before the tracks are final
        return TaskStatus(task_id=task_id, state=TaskState.RUNNING, raw=data)
    tracks = data.get("data") or []
    urls = [
        str(t.get("audio_url") or t.get("audioUrl"))
        for t in tracks
        if isinstance(t, dict) and (t.get("audio_url") or t.get("audioUrl"))
    ]
    return TaskStatus(task_id=task_id, state=TaskState.SUCCESS, result_urls=urls, raw=data)


def _info_urls(info: Any) -> list[str]:
    if not isinstance(info, dict):
        return []
    for key in ("resultUrls", "result_urls", "resultImageUrl", "result_image_url"):
        urls = url_list(info.get(key))
        if urls:
            return urls
    return []


def parse_callback(body: Mapping[str, Any]) -> tuple[str, TaskStatus]:
    """Task id and a best-effort status from any family's callback body.

    Raises `KieInvalidInput` when the body carries no task id (nothing to match it to).
    """
    data = json_field(body.get("data"))
    data = data if isinstance(data, dict) else {}
    task_id = str(data.get("taskId") or data.get("task_id") or body.get("taskId") or body.get("task_id") or "")
    if not task_id:
        raise KieInvalidInput(_code(body), "callback without a task id")
    code = _code(body)
    msg = text_or_none(body.get("msg") or body.get("message"))
    if "state" in data or "resultJson" in data:  # Market: the recordInfo object itself
        status = parse_market_record({**data, "taskId": task_id})
        if status.state is TaskState.FAILED and status.fail_code is None:
            return task_id, flagged_status({**data, "failCode": code, "failMsg": msg}, TaskState.FAILED, [])
        return task_id, status
    if "callbackType" in data:
        return task_id, _suno(task_id, code, msg, data)
    if code != 200:
        return task_id, _failed(task_id, code, msg, data)
    if "video_url" in data or "videoUrl" in data:  # Runway
        urls = url_list(data.get("video_url") or data.get("videoUrl"))
    elif "info" in data:  # Veo, 4o Image, Flux Kontext
        urls = _info_urls(json_field(data.get("info")))
    else:  # Midjourney: resultUrls as strings or {"resultUrl": ...}
        items = data.get("resultUrls") or []
        urls = [
            i if isinstance(i, str) else str(i.get("resultUrl"))
            for i in items
            if isinstance(i, str) or (isinstance(i, dict) and i.get("resultUrl"))
        ]
    return task_id, TaskStatus(task_id=task_id, state=TaskState.SUCCESS, result_urls=urls, raw=data)
