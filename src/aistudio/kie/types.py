"""Plain values the Kie client returns: a task's status and an uploaded file."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from aistudio.kie.errors import KieError, error_for


class TaskState(StrEnum):
    """Kie's many status spellings folded into four states."""

    PENDING = "pending"  # accepted, not started (waiting, queuing, wait, PENDING)
    RUNNING = "running"  # generating, TEXT_SUCCESS, successFlag 0 ...
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAILED)


@dataclass(frozen=True)
class TaskStatus:
    """One reading of a task. `raw` keeps Kie's `data` object for logs and debugging."""

    task_id: str
    state: TaskState
    result_urls: list[str] = field(default_factory=list)
    fail_code: str | None = None
    fail_message: str | None = None
    credits_consumed: Decimal | None = None
    created_ms: int | None = None
    completed_ms: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def duration_ms(self) -> int | None:
        """Kie's own run time; `costTime` has an unclear unit, so use the timestamps."""
        if self.created_ms is None or self.completed_ms is None:
            return None
        return self.completed_ms - self.created_ms

    def error(self) -> KieError | None:
        """The typed error for a failed task (content policy, generation failed ...), else None."""
        if self.state is not TaskState.FAILED:
            return None
        return error_for(self.fail_code or 501, self.fail_message or "generation failed")


@dataclass(frozen=True)
class UploadedFile:
    """A file on Kie's upload host; `url` is what a model's media input takes. Kept 3 days."""

    url: str
    size: int | None = None
    file_name: str | None = None
    file_path: str | None = None
    mime_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
