"""The emulator's own promises: deterministic faults, control API, credits, counters, scale."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestServer

from aistudio.catalog.loader import Catalog, load_catalog
from aistudio.catalog.models import Family, InputField
from aistudio.catalog.validation import validate_inputs
from aistudio.kie import KieClient, KieError, KieGateway, KieInsufficientCredits, KieNotFound, TaskState
from aistudio.sandbox.kie import EMULATOR, Emulator, EmulatorConfig, create_app, run_server
from aistudio.sandbox.kie.intake import market_intake
from tests.kie.conftest import START_CREDITS, Receiver, Sandbox, wait_for_status


async def _outcomes(kie: KieClient, sandbox: Sandbox, count: int) -> list[str]:
    ids = [await kie.create_market_task("z-image", {"prompt": str(i)}) for i in range(count)]
    return [(await wait_for_status(lambda t=t: kie.market_record_info(t))).state.value for t in ids]


async def test_seeded_failure_rate_repeats_the_same_outcomes(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(failure_rate=0.5, seed=123)
    first = await _outcomes(kie, sandbox, 12)
    await sandbox.control("POST", "/sandbox/reset")
    await sandbox.faults(failure_rate=0.5, seed=123)

    second = await _outcomes(kie, sandbox, 12)

    assert first == second
    assert {"success", "failed"} == set(first)


async def test_model_fault_leaves_other_models_alone(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(model="google/nano-banana", failure_rate=1.0)

    fox = await kie.create_market_task("z-image", {"prompt": "fox"})
    banana = await kie.create_market_task("google/nano-banana", {"prompt": "banana"})

    assert (await wait_for_status(lambda: kie.market_record_info(fox))).state is TaskState.SUCCESS
    assert (await wait_for_status(lambda: kie.market_record_info(banana))).state is TaskState.FAILED


async def test_unknown_fault_setting_is_refused_naming_it(sandbox: Sandbox) -> None:
    response = await sandbox.http.post(f"{sandbox.url}/sandbox/faults", json={"explode_next": 1})

    assert response.status_code == 400
    assert "explode_next" in response.json()["error"]


async def test_reset_forgets_tasks_counters_and_restores_credits(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    await wait_for_status(lambda: kie.market_record_info(task_id))

    await sandbox.control("POST", "/sandbox/reset")

    stats = await sandbox.stats()
    assert await sandbox.tasks() == []
    assert stats["total_requests"] == 0
    assert await kie.credit_balance() == START_CREDITS
    with pytest.raises(KieNotFound):
        await kie.market_record_info(task_id)


async def test_credits_of_running_tasks_are_reserved(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/sandbox/credits", {"credits": 5})
    await sandbox.control("POST", "/sandbox/timing", {"duration": 3600})

    await kie.create_market_task("google/nano-banana", {"prompt": "4 credits"})

    with pytest.raises(KieInsufficientCredits):
        await kie.create_market_task("google/nano-banana", {"prompt": "4 more"})


async def test_stats_count_kie_requests_per_endpoint_only(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    await kie.market_record_info(task_id)
    await kie.market_record_info(task_id)
    await sandbox.tasks()

    requests = (await sandbox.stats())["requests"]

    assert requests == {"POST /api/v1/jobs/createTask": 1, "GET /api/v1/jobs/recordInfo": 2}


async def test_control_and_result_urls_need_no_api_key(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    async with httpx.AsyncClient() as anonymous:
        result = await anonymous.get(status.result_urls[0])
        api = await anonymous.get(f"{sandbox.url}/api/v1/chat/credit")

    assert result.status_code == 200
    assert result.headers["content-type"] == "image/png"
    assert api.json()["code"] == 401


async def test_family_record_of_another_family_is_unknown(kie: KieClient) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})

    with pytest.raises(KieNotFound):
        await kie.query("/api/v1/veo/record-info", {"taskId": task_id})


async def test_scheduler_finishes_two_thousand_tasks_without_a_coroutine_each(catalog: Catalog) -> None:
    emulator = Emulator(EmulatorConfig(catalog=catalog, time_scale=0.01, duration=(5.0, 20.0), seed=1, credits=10_000))
    intake = market_intake(catalog, {"model": "z-image", "input": {"prompt": "bench"}})
    started = time.monotonic()

    tasks = [emulator.create_task(Family.MARKET, intake, {}, None, "http://sandbox") for _ in range(2000)]
    running_coroutines = len(asyncio.all_tasks())
    while any(t.final is None for t in tasks):
        assert time.monotonic() - started < 5.0
        await asyncio.sleep(0.02)
    await emulator.close()

    assert running_coroutines < 10
    assert all(t.final == "success" for t in tasks)
    assert emulator.balance == 10_000 - 2000 * intake.cost


async def test_hundreds_of_concurrent_tasks_each_call_back_once(kie: KieClient, receiver: Receiver) -> None:
    ids = await asyncio.gather(
        *(kie.create_market_task("z-image", {"prompt": str(i)}, f"{receiver.url}/cb/{i}") for i in range(100))
    )

    calls = await receiver.wait_for(100, within=10.0)
    await asyncio.sleep(0.05)

    assert len(calls) == 100
    assert {c.body["data"]["taskId"] for c in calls} == set(ids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_run_server_serves_the_emulator_until_cancelled(catalog: Catalog) -> None:
    port = _free_port()
    server = asyncio.create_task(run_server("127.0.0.1", port, api_key="k", catalog=catalog, credits=42))
    try:
        async with KieClient("k", base_url=f"http://127.0.0.1:{port}", get_attempts=10, backoff_base=0.05) as client:
            assert await client.credit_balance() == 42
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)


def _sample_value(field: InputField) -> Any:
    """A valid value for a required input without a default, as a user would give it."""
    if field.enum:
        return [field.enum[0]] if field.type == "array" else field.enum[0]
    if field.type == "array":
        return ["https://files.example/input.png"] * max(1, field.min_items or 1)
    if field.type in ("integer", "number"):
        return int(field.minimum) if field.minimum is not None else 1
    if field.type == "boolean":
        return False
    if field.media:
        return "https://files.example/input.png"
    return "a calm lake at dawn".ljust(field.min_length or 0, "!")


async def test_every_enabled_shipped_model_is_accepted_by_the_emulator_through_the_gateway() -> None:
    shipped = load_catalog()
    app = create_app(EmulatorConfig(api_key="k", catalog=shipped, time_scale=0.01))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    refused: dict[str, str] = {}
    try:
        async with KieClient("k", base_url=url, upload_base_url=url) as client:
            gateway = KieGateway(client)
            for spec in shipped:
                if not spec.enabled:
                    continue
                inputs = {f.name: _sample_value(f) for f in spec.inputs if f.required and f.default is None}
                try:
                    await gateway.submit(spec, validate_inputs(spec, inputs), None)
                except KieError as exc:
                    refused[spec.id] = exc.message
        created = {task.model for task in app[EMULATOR].tasks.values()}
    finally:
        await server.close()

    assert refused == {}
    assert created == {spec.id for spec in shipped if spec.enabled}
