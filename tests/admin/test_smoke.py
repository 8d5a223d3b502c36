"""The smoke test's own logic: minimal inputs from field specs, and pass / fail / timeout per model."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from aistudio.admin.smoke import SmokeSkipped, SmokeTester, tiny_png
from aistudio.catalog.loader import load_catalog
from aistudio.catalog.models import ModelSpec
from aistudio.catalog.validation import validate_inputs
from aistudio.kie.errors import KieInsufficientCredits
from aistudio.kie.types import TaskState, TaskStatus
from aistudio.pricing.free_tier import derive_free_models


class FakeUploads:
    async def upload_base64(self, data: bytes, *args: Any, **kwargs: Any) -> Any:
        assert data.startswith(b"\x89PNG")
        return type("Uploaded", (), {"url": "https://files.example/smoke.png"})()


class FakeGateway:
    def __init__(self, states: list[TaskState], submit_error: Exception | None = None) -> None:
        self.states = states
        self.submit_error = submit_error
        self.submitted: list[tuple[str, dict[str, Any]]] = []

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> str:
        if self.submit_error is not None:
            raise self.submit_error
        self.submitted.append((model.id, inputs))
        return "task-1"

    async def status(self, model: ModelSpec, task_id: str) -> TaskStatus:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        urls = ["https://r.example/1.png"] if state is TaskState.SUCCESS else []
        return TaskStatus(task_id, state, urls, fail_code="501" if state is TaskState.FAILED else None)


class FreeLimiter:
    async def acquire(self, user_id: Any) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 7.0
        return self.now


def make_tester(gateway: FakeGateway, **kwargs: Any) -> SmokeTester:
    return SmokeTester(gateway, FakeUploads(), FreeLimiter(), poll_s=0, **kwargs)  # type: ignore[arg-type]


def test_the_sample_picture_is_a_valid_png() -> None:
    image = Image.open(io.BytesIO(tiny_png(32)))
    assert image.size == (32, 32) and image.format == "PNG"


async def test_every_visible_model_gets_valid_minimal_inputs_or_a_clear_skip() -> None:
    catalog = load_catalog()
    smoke = make_tester(FakeGateway([TaskState.SUCCESS]))
    skipped = []
    for model in catalog.visible():
        try:
            inputs = await smoke.minimal_inputs(model)
        except SmokeSkipped as exc:
            skipped.append((model.id, str(exc)))
            continue
        assert validate_inputs(model, inputs) == inputs
    assert {why for _, why in skipped} <= {"needs a sample video file", "needs a sample audio file"}
    assert len(skipped) < len(catalog.visible()) // 10


async def test_free_models_pass_when_kie_succeeds_and_fail_otherwise() -> None:
    free = derive_free_models(load_catalog(), 5)
    passed = await make_tester(
        FakeGateway([TaskState.PENDING, TaskState.RUNNING, TaskState.SUCCESS]), clock=Clock()
    ).run(free)
    failed = await make_tester(FakeGateway([TaskState.FAILED])).run_one(free[0])
    out_of_credits = await make_tester(FakeGateway([], KieInsufficientCredits(402, "no credits"))).run_one(free[0])
    stuck = await make_tester(FakeGateway([TaskState.RUNNING]), timeout_s=20, clock=Clock()).run_one(free[0])

    assert [r.passed for r in passed] == [True] * len(free) and [r.model_id for r in passed] == [m.id for m in free]
    assert all(r.seconds > 0 and r.detail == "1 result(s)" for r in passed)
    assert not failed.passed and failed.detail.startswith("failed 501")
    assert not out_of_credits.passed and "402" in out_of_credits.detail
    assert not stuck.passed and stuck.detail == "timed out"
