"""Reading Kie's loosely typed fields: JSON-in-a-string, mixed time formats, several spellings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aistudio.kie.types import TaskState, TaskStatus

# Market `state` values; "queueing" is Runway's spelling, accepted here too.
MARKET_STATES: dict[str, TaskState] = {
    "waiting": TaskState.PENDING,
    "wait": TaskState.PENDING,
    "queuing": TaskState.PENDING,
    "queueing": TaskState.PENDING,
    "generating": TaskState.RUNNING,
    "success": TaskState.SUCCESS,
    "fail": TaskState.FAILED,
    "failed": TaskState.FAILED,
}


def json_field(value: Any) -> Any:
    """Kie sends `param`, `resultJson`, `paramJson` as JSON *strings*; accept an object too."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def to_ms(value: Any) -> int | None:
    """Unix ms from Kie's ints (ms, sometimes s), numeric strings or "2025-06-06 10:25:00" (UTC assumed)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
        # Ten-digit values are seconds; Kie mostly sends ms but not everywhere.
        return number * 1000 if 0 < number < 10_000_000_000 else number
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return to_ms(int(text))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def to_decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def credits_of(data: dict[str, Any]) -> Decimal | None:
    """Credits a task used; the field is spelled differently across Kie's pages."""
    for key in ("creditsConsumed", "consumeCredits", "costCredits", "credits"):
        amount = to_decimal(data.get(key))
        if amount is not None:
            return amount
    return None


def url_list(value: Any) -> list[str]:
    """A list of URL strings from a list, a single string, or None."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str) and item]
    return []


def parse_market_record(data: dict[str, Any]) -> TaskStatus:
    """A Market `recordInfo` `data` object (also the body of a Market callback) as a TaskStatus."""
    state = MARKET_STATES.get(str(data.get("state", "")).lower(), TaskState.PENDING)
    result = json_field(data.get("resultJson")) or {}
    urls = url_list(result.get("resultUrls")) if isinstance(result, dict) else []
    return TaskStatus(
        task_id=str(data.get("taskId") or data.get("task_id") or ""),
        state=state,
        result_urls=urls,
        fail_code=text_or_none(data.get("failCode")) if state is TaskState.FAILED else None,
        fail_message=text_or_none(data.get("failMsg")) if state is TaskState.FAILED else None,
        credits_consumed=credits_of(data),
        created_ms=to_ms(data.get("createTime")),
        completed_ms=to_ms(data.get("completeTime")),
        raw=data,
    )


def parse_flag_record(data: dict[str, Any], urls: list[str], *, task_id_key: str = "taskId") -> TaskStatus:
    """Records with `successFlag` (Veo, Flux Kontext, Midjourney, 4o): 0 running, 1 ok, 2/3 failed."""
    flag = data.get("successFlag")
    try:
        flag_number = int(flag) if flag is not None else 0
    except (TypeError, ValueError):
        flag_number = 0
    flag_states = {1: TaskState.SUCCESS, 2: TaskState.FAILED, 3: TaskState.FAILED}
    state = flag_states.get(flag_number, TaskState.RUNNING)
    return flagged_status(data, state, urls, task_id_key=task_id_key)


def flagged_status(
    data: dict[str, Any], state: TaskState, urls: list[str], *, task_id_key: str = "taskId"
) -> TaskStatus:
    """Build a TaskStatus from a family record whose error fields are `errorCode`/`errorMessage`."""
    failed = state is TaskState.FAILED
    return TaskStatus(
        task_id=str(data.get(task_id_key) or data.get("taskId") or data.get("task_id") or ""),
        state=state,
        result_urls=urls if state is TaskState.SUCCESS else [],
        fail_code=text_or_none(data.get("errorCode") or data.get("failCode")) if failed else None,
        fail_message=text_or_none(data.get("errorMessage") or data.get("failMsg")) if failed else None,
        credits_consumed=credits_of(data),
        created_ms=to_ms(data.get("createTime")),
        completed_ms=to_ms(data.get("completeTime")),
        raw=data,
    )
