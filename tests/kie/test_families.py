"""Each family adapter round-trips through its own endpoints and status fields on the emulator."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import Family, ModelSpec
from aistudio.kie import (
    KieClient,
    KieContentPolicy,
    KieGateway,
    KieGenerationFailed,
    KieInvalidInput,
    TaskState,
)
from aistudio.kie.families import MarketAdapter, SunoAdapter, VeoAdapter, adapter_for
from tests.kie import specs
from tests.kie.conftest import START_CREDITS, Sandbox, wait_for_status

FAMILY_SPECS = [specs.VEO, specs.SUNO, specs.SUNO_SOUNDS, specs.RUNWAY, specs.GPT4O, specs.FLUX, specs.MIDJOURNEY]


def _kind_of(data: bytes) -> str:
    if data[4:8] == b"ftyp":
        return "video"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2") or data.startswith(b"RIFF"):
        return "audio"
    Image.open(io.BytesIO(data)).verify()
    return "image"


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=lambda s: s.id)
async def test_family_adapter_round_trip_gives_results_of_the_model_output_kind(
    gateway: KieGateway, kie: KieClient, sandbox: Sandbox, spec: ModelSpec
) -> None:
    task_id = await gateway.submit(spec, {"prompt": f"{spec.family.value} test"}, "http://127.0.0.1:9/cb")
    status = await wait_for_status(lambda: gateway.status(spec, task_id))

    assert status.state is TaskState.SUCCESS
    assert status.task_id == task_id
    assert status.result_urls
    for url in status.result_urls:
        assert _kind_of(await kie.download(url, max_bytes=5_000_000)) == spec.output
    [task] = await sandbox.tasks()
    assert task["family"] == spec.family.value
    assert task["model"] == spec.id


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=lambda s: s.id)
async def test_family_adapter_reports_a_failed_task_as_failed(
    gateway: KieGateway, sandbox: Sandbox, spec: ModelSpec
) -> None:
    await sandbox.faults(model=spec.id, fail_next=1)

    task_id = await gateway.submit(spec, {"prompt": "doomed"}, None)
    status = await wait_for_status(lambda: gateway.status(spec, task_id))

    assert status.state is TaskState.FAILED
    assert status.result_urls == []
    assert isinstance(status.error(), KieGenerationFailed)


@pytest.mark.parametrize("spec", FAMILY_SPECS, ids=lambda s: s.id)
async def test_family_endpoint_validates_inputs_against_the_catalog(gateway: KieGateway, spec: ModelSpec) -> None:
    with pytest.raises(KieInvalidInput) as caught:
        await gateway.submit(spec, {"prompt": "x" * 501}, None)

    assert "prompt" in caught.value.message


async def test_family_requests_use_the_family_endpoint_and_camel_case_fields(
    gateway: KieGateway, sandbox: Sandbox
) -> None:
    await gateway.submit(specs.VEO, {"prompt": "city", "aspectRatio": "9:16"}, "http://127.0.0.1:9/cb")

    [task] = await sandbox.tasks()
    stats = await sandbox.stats()
    assert stats["requests"].get("POST /api/v1/veo/generate") == 1
    assert "POST /api/v1/jobs/createTask" not in stats["requests"]
    assert task["request"] == {
        "prompt": "city",
        "aspectRatio": "9:16",
        "model": "veo3_fast",
        "callBackUrl": "http://127.0.0.1:9/cb",
    }


async def test_suno_sensitive_word_error_is_a_content_policy_failure(
    gateway: KieGateway, kie: KieClient, sandbox: Sandbox
) -> None:
    await sandbox.faults(model=specs.SUNO.id, fail_next=1, fail_code=400, fail_message="sensitive word")

    task_id = await gateway.submit(specs.SUNO, {"prompt": "x"}, None)
    status = await wait_for_status(lambda: gateway.status(specs.SUNO, task_id))
    raw = await kie.query("/api/v1/generate/record-info", {"taskId": task_id})

    assert raw["status"] == "SENSITIVE_WORD_ERROR"
    assert isinstance(status.error(), KieContentPolicy)


async def test_suno_returns_two_tracks(gateway: KieGateway) -> None:
    task_id = await gateway.submit(specs.SUNO, {"prompt": "lofi"}, None)
    status = await wait_for_status(lambda: gateway.status(specs.SUNO, task_id))

    assert len(status.result_urls) == 2


def test_veo_status_parses_success_flag_and_kie_time_strings() -> None:
    data = {
        "taskId": "veo_1",
        "successFlag": 1,
        "response": {"resultUrls": ["https://x/v.mp4"]},
        "createTime": "2025-06-06 10:25:00",
        "completeTime": "2025-06-06 10:30:00",
    }

    status = VeoAdapter(client=None).parse(data)  # type: ignore[arg-type]

    assert status.state is TaskState.SUCCESS
    assert status.result_urls == ["https://x/v.mp4"]
    assert status.duration_ms == 300_000


@pytest.mark.parametrize(
    ("flag", "state"),
    [(0, TaskState.RUNNING), (1, TaskState.SUCCESS), (2, TaskState.FAILED), (3, TaskState.FAILED)],
)
def test_veo_success_flags_map_to_states(flag: int, state: TaskState) -> None:
    status = VeoAdapter(client=None).parse({"taskId": "t", "successFlag": flag})  # type: ignore[arg-type]

    assert status.state is state


@pytest.mark.parametrize(
    ("suno_status", "state"),
    [
        ("PENDING", TaskState.PENDING),
        ("TEXT_SUCCESS", TaskState.RUNNING),
        ("FIRST_SUCCESS", TaskState.RUNNING),
        ("SUCCESS", TaskState.SUCCESS),
        ("CREATE_TASK_FAILED", TaskState.FAILED),
        ("GENERATE_AUDIO_FAILED", TaskState.FAILED),
        ("CALLBACK_EXCEPTION", TaskState.FAILED),
    ],
)
def test_suno_statuses_map_to_states(suno_status: str, state: TaskState) -> None:
    status = SunoAdapter(client=None).parse({"taskId": "t", "status": suno_status})  # type: ignore[arg-type]

    assert status.state is state


def test_adapter_registry_covers_every_family() -> None:
    adapters = {family: adapter_for(family, client=None) for family in Family}  # type: ignore[arg-type]

    assert isinstance(adapters[Family.MARKET], MarketAdapter)
    assert {a.family for a in adapters.values()} == set(Family)


async def test_market_model_goes_through_the_gateway(gateway: KieGateway, catalog: Catalog) -> None:
    spec = catalog.get("z-image")

    task_id = await gateway.submit(spec, {"prompt": "fox"})
    status = await wait_for_status(lambda: gateway.status(spec, task_id))

    assert status.state is TaskState.SUCCESS
    assert json.loads(status.raw["param"])["model"] == "z-image"


async def test_veo_variant_from_the_inputs_is_sent_and_charged_at_its_own_price(
    gateway: KieGateway, kie: KieClient, sandbox: Sandbox
) -> None:
    task_id = await gateway.submit(specs.VEO, {"prompt": "city", "model": "veo3"}, None)
    status = await wait_for_status(lambda: gateway.status(specs.VEO, task_id))

    [task] = await sandbox.tasks()
    assert task["request"]["model"] == "veo3"
    assert status.state is TaskState.SUCCESS
    assert await kie.credit_balance() == START_CREDITS - 250


async def test_suno_sounds_use_their_own_endpoint_without_music_flags(gateway: KieGateway, sandbox: Sandbox) -> None:
    task_id = await gateway.submit(specs.SUNO_SOUNDS, {"prompt": "rain on a roof", "soundTempo": 90}, None)
    status = await wait_for_status(lambda: gateway.status(specs.SUNO_SOUNDS, task_id))

    [task] = await sandbox.tasks()
    requests = (await sandbox.stats())["requests"]
    assert requests.get("POST /api/v1/generate/sounds") == 1
    assert "POST /api/v1/generate" not in requests
    assert task["model"] == specs.SUNO_SOUNDS.id
    assert "customMode" not in task["request"]
    assert status.state is TaskState.SUCCESS


async def test_suno_music_request_is_not_taken_for_sounds(gateway: KieGateway, sandbox: Sandbox) -> None:
    await gateway.submit(specs.SUNO, {"prompt": "lofi"}, None)

    [task] = await sandbox.tasks()
    assert task["model"] == specs.SUNO.id
    assert task["request"]["customMode"] is False
