"""The client against the emulator over HTTP: Market tasks from create to downloaded result."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from aistudio.catalog.loader import Catalog
from aistudio.catalog.validation import validate_inputs
from aistudio.kie import KieClient, KieNotFound, TaskState
from tests.kie.conftest import START_CREDITS, Sandbox, wait_for_status


async def test_market_task_goes_from_pending_to_success_with_a_png_result(kie: KieClient) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "a red fox in snow"})

    first = await kie.market_record_info(task_id)
    final = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert first.state in (TaskState.PENDING, TaskState.RUNNING)
    assert final.state is TaskState.SUCCESS
    assert final.task_id == task_id
    assert len(final.result_urls) == 1
    image = Image.open(io.BytesIO(await kie.download(final.result_urls[0], max_bytes=5_000_000)))
    assert image.format == "PNG"
    assert image.size == (512, 512)


async def test_record_info_reports_all_states_in_order(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/sandbox/timing", {"model": "z-image", "duration": 40})
    task_id = await kie.create_market_task("z-image", {"prompt": "slow fox"})

    seen: list[str] = []
    while not seen or seen[-1] not in ("success", "fail"):
        raw = (await kie.market_record_info(task_id)).raw["state"]
        if not seen or seen[-1] != raw:
            seen.append(raw)

    assert seen[0] == "waiting"
    assert seen == sorted(seen, key=["waiting", "queuing", "generating", "success"].index)
    assert {"queuing", "generating", "success"} <= set(seen)


async def test_record_info_echoes_the_request_as_a_json_string(kie: KieClient) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "fox"}, "http://127.0.0.1:9/cb")
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert isinstance(status.raw["param"], str)
    param = json.loads(status.raw["param"])
    assert param == {"model": "z-image", "input": {"prompt": "fox"}, "callBackUrl": "http://127.0.0.1:9/cb"}
    assert isinstance(status.raw["resultJson"], str)
    assert json.loads(status.raw["resultJson"])["resultUrls"] == status.result_urls
    assert status.completed_ms is not None and status.created_ms is not None
    assert status.duration_ms is not None and status.duration_ms > 0


async def test_jpeg_output_format_gives_a_jpeg_result(kie: KieClient) -> None:
    task_id = await kie.create_market_task(
        "google/nano-banana", {"prompt": "banner", "output_format": "jpeg", "aspect_ratio": "16:9"}
    )
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    image = Image.open(io.BytesIO(await kie.download(status.result_urls[0], max_bytes=5_000_000)))
    assert image.format == "JPEG"
    assert image.size[0] > image.size[1]  # 16:9


async def test_balance_decreases_by_the_catalog_price_on_success(kie: KieClient, catalog: Catalog) -> None:
    spec = catalog.get("google/nano-banana")
    inputs = {"prompt": "one", "aspect_ratio": "1:1"}
    price = spec.pricing.credits(validate_inputs(spec, inputs))
    before = await kie.credit_balance()

    task_id = await kie.create_market_task(spec.id, inputs)
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert before == START_CREDITS
    assert await kie.credit_balance() == before - price
    assert status.credits_consumed == price


async def test_failed_task_costs_nothing(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(model="z-image", fail_next=1)

    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert status.state is TaskState.FAILED
    assert await kie.credit_balance() == START_CREDITS


async def test_unknown_task_id_is_not_found(kie: KieClient) -> None:
    with pytest.raises(KieNotFound):
        await kie.market_record_info("no-such-task")


async def test_download_url_turns_a_result_url_into_a_working_link(kie: KieClient) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    link = await kie.download_url(status.result_urls[0])

    assert link != status.result_urls[0]
    assert (await kie.download(link, max_bytes=5_000_000)).startswith(b"\x89PNG")


async def test_sandbox_lists_every_task_with_its_input_and_callback(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "listed"}, "http://127.0.0.1:9/cb/1")

    [task] = await sandbox.tasks()

    assert task["taskId"] == task_id
    assert task["model"] == "z-image"
    assert task["input"]["prompt"] == "listed"
    assert task["callBackUrl"] == "http://127.0.0.1:9/cb/1"
    assert task["state"] in ("waiting", "queuing", "generating", "success")


async def test_forced_completion_ends_a_task_at_once(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/sandbox/timing", {"duration": 3600})
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})

    await sandbox.control(
        "POST",
        f"/sandbox/tasks/{task_id}/complete",
        {"outcome": "fail", "fail_code": 400, "fail_message": "content policy"},
    )
    status = await kie.market_record_info(task_id)

    assert status.state is TaskState.FAILED
    assert status.fail_code == "400"
