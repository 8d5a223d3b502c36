"""The emulator's state and task lifecycle, free of HTTP: create, finish, charge, call back, reset."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aistudio.catalog.loader import load_catalog
from aistudio.catalog.models import Family
from aistudio.sandbox.kie import media
from aistudio.sandbox.kie.config import Duration, EmulatorConfig
from aistudio.sandbox.kie.delivery import CallbackSender
from aistudio.sandbox.kie.faults import Faults
from aistudio.sandbox.kie.intake import Intake, KieAnswer
from aistudio.sandbox.kie.shapes import FAMILY_APIS
from aistudio.sandbox.kie.tasks import Scheduler, Task

log = logging.getLogger(__name__)

RENDER_CACHE_SIZE = 512  # rendered pictures kept; the bench downloads each result about once


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    mime: str


class Emulator:
    """One emulated Kie account: tasks, credits, uploaded files, faults and request counters."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.catalog = config.catalog if config.catalog is not None else load_catalog()
        self.faults = Faults(config.seed)
        self.rng = random.Random(config.seed)
        self.tasks: dict[str, Task] = {}
        self.balance = config.credits
        self.reserved = Decimal(0)  # credits of running tasks, so concurrent tasks cannot overdraw
        self.files: dict[str, StoredFile] = {}
        self.requests: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.scheduler = Scheduler(self._on_due)
        self.sender = CallbackSender(config, self.events)
        self._rendered: OrderedDict[str, bytes] = OrderedDict()

    async def close(self) -> None:
        await self.scheduler.close()
        await self.sender.close()

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    # -- tasks ------------------------------------------------------------------------------------

    def create_task(
        self,
        family: Family,
        intake: Intake,
        request: dict[str, Any],
        callback_url: str | None,
        base_url: str,
    ) -> Task:
        """Accept a validated request: check credits, decide its faults and schedule its end."""
        if self.balance - self.reserved < intake.cost:
            raise KieAnswer(402, "Credits insufficient. Please top up your account.")
        rule = self.faults.rule_for(intake.model)
        duration = self.config.draw_duration(intake.model, self.rng)
        started = self.now()
        task = Task(
            id=uuid.uuid4().hex,
            family=family,
            model=intake.model,
            request=request,
            inputs=intake.inputs,
            prompt=str(intake.inputs.get("prompt") or request.get("prompt") or ""),
            output=intake.output,
            ext=media.extension_for(intake.output, intake.inputs),
            cost=intake.cost,
            callback_url=callback_url or None,
            base_url=base_url,
            created_ms=_now_ms(),
            started_at=started,
            done_at=started + duration * self.config.time_scale,
            will_fail=self.faults.take("fail", intake.model),
            fail_code=rule.fail_code,
            fail_message=rule.fail_message,
            lose_callback=self.faults.take("lose_callback", intake.model),
            duplicate_callback=self.faults.take("duplicate_callback", intake.model),
        )
        self.tasks[task.id] = task
        self.reserved += task.cost
        self.events["tasks_created"] += 1
        self.scheduler.schedule(task.id, task.done_at)
        return task

    def finish(self, task: Task, outcome: str | None = None) -> bool:
        """End a task now (`outcome` forces success/fail); False if it had already ended."""
        if task.final is not None:
            return False
        success = (not task.will_fail) if outcome is None else outcome == "success"
        self.reserved -= task.cost
        task.completed_ms = max(_now_ms(), task.created_ms + 1)
        if success:
            self.balance -= task.cost
            count = 1 if task.family is Family.MARKET else FAMILY_APIS[task.family].results
            task.result_urls = [f"{task.base_url}/files/results/{task.id}/{index}.{task.ext}" for index in range(count)]
            task.final = "success"
        else:
            task.final = "fail"
            if not task.fail_message:
                task.fail_message = "Generation failed"
        self.events[f"tasks_{task.final}"] += 1
        return True

    def _on_due(self, task_id: str) -> None:
        task = self.tasks.get(task_id)
        if task is not None and self.finish(task):
            self.sender.dispatch(task)

    def complete_now(self, task: Task, outcome: str | None) -> bool:
        """POST /sandbox/tasks/{id}/complete: end it now and send its callback."""
        if not self.finish(task, outcome):
            return False
        self.sender.dispatch(task)
        return True

    def state_of(self, task: Task) -> str:
        return task.state(self.now())

    # -- results ----------------------------------------------------------------------------------

    def result_file(self, task_id: str, name: str) -> tuple[bytes, str] | None:
        """The bytes and content type of a result, rendered on first request.

        Rendered inline (about 2 ms a picture): a worker thread was slower, as drawing holds the GIL.
        Pictures are cached by what they show, so a bench repeating one prompt renders it once.
        """
        task = self.tasks.get(task_id)
        if task is None or task.final != "success":
            return None
        if f"{task.base_url}/files/results/{task_id}/{name}" not in task.result_urls:
            return None
        stem, _, ext = name.partition(".")
        aspect = task.inputs.get("aspect_ratio") or task.inputs.get("aspectRatio")
        key = f"{ext}|{aspect}|{stem}|{task.prompt}"
        data = self._rendered.get(key)
        if data is None:
            data = media.render(ext, task.prompt, task.inputs, int(stem))
            self._rendered[key] = data
            if len(self._rendered) > RENDER_CACHE_SIZE:
                self._rendered.popitem(last=False)
        else:
            self._rendered.move_to_end(key)
        return data, media.CONTENT_TYPES.get(ext, "application/octet-stream")

    # -- control ----------------------------------------------------------------------------------

    def set_timing(self, model: str | None, duration: Duration | None, time_scale: float | None) -> None:
        if time_scale is not None:
            if time_scale <= 0:
                raise ValueError("time_scale must be > 0")
            self.config.time_scale = time_scale
        if duration is not None:
            if model:
                self.config.durations[model] = duration
            else:
                self.config.duration = duration

    def reset(self) -> None:
        """Forget tasks, files, faults and counters; credits back to the configured start."""
        self.tasks.clear()
        self.files.clear()
        self._rendered.clear()
        self.scheduler.clear()
        self.faults.reset(self.config.seed)
        self.rng = random.Random(self.config.seed)
        self.requests.clear()
        self.events.clear()
        self.balance = self.config.credits
        self.reserved = Decimal(0)

    def stats(self) -> dict[str, Any]:
        states = Counter(self.state_of(t) for t in self.tasks.values())
        return {
            "requests": dict(self.requests),
            "total_requests": sum(self.requests.values()),
            "events": dict(self.events),
            "tasks": {"total": len(self.tasks), **states},
            "credits": float(self.balance),
            "scheduled": len(self.scheduler),
        }


def _now_ms() -> int:
    return int(time.time() * 1000)
