"""Callback signatures, our callback-URL tokens, callback bodies, and delivery by the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest

from aistudio.kie import (
    KieClient,
    KieGateway,
    KieInvalidInput,
    TaskState,
    build_callback_url,
    callback_token,
    check_callback_token,
    parse_callback,
    sign_callback,
    verify_callback,
)
from tests.kie import specs
from tests.kie.conftest import HMAC_KEY, Receiver, Sandbox, wait_for_status

# Computed independently:
# printf 'task-123.1700000000' | openssl dgst -sha256 -hmac whsec-test -binary | base64
KNOWN_SIGNATURE = "UDV/+8rNf0+CnfTcDpIA7IPyUrar1pPZ2NqVtH0eAr8="
NOW = 1_700_000_000


def _headers(signature: str = KNOWN_SIGNATURE, timestamp: int = NOW) -> dict[str, str]:
    return {"X-Webhook-Timestamp": str(timestamp), "X-Webhook-Signature": signature}


def test_signature_matches_kie_formula() -> None:
    assert sign_callback("whsec-test", "task-123", NOW) == KNOWN_SIGNATURE


def test_valid_signature_verifies() -> None:
    assert verify_callback("whsec-test", _headers(), "task-123", now=NOW + 10)


def test_header_names_are_case_insensitive() -> None:
    headers = {"x-webhook-timestamp": str(NOW), "x-webhook-signature": KNOWN_SIGNATURE}

    assert verify_callback("whsec-test", headers, "task-123", now=NOW)


@pytest.mark.parametrize(
    ("key", "headers", "task_id"),
    [
        ("wrong-key", _headers(), "task-123"),
        ("whsec-test", _headers(signature=KNOWN_SIGNATURE[:-2] + "A="), "task-123"),
        ("whsec-test", _headers(), "task-456"),  # a signature lifted from another task
        ("whsec-test", _headers(timestamp=NOW + 1), "task-123"),  # timestamp changed after signing
        ("whsec-test", {"X-Webhook-Timestamp": str(NOW)}, "task-123"),
        ("whsec-test", {}, "task-123"),
        ("whsec-test", _headers(), ""),
    ],
    ids=["wrong-key", "forged", "other-task", "edited-timestamp", "no-signature", "no-headers", "no-task-id"],
)
def test_forged_or_incomplete_signatures_are_rejected(key: str, headers: dict[str, str], task_id: str) -> None:
    assert not verify_callback(key, headers, task_id, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_signatures_outside_the_allowed_skew_are_rejected(skew: int) -> None:
    assert not verify_callback("whsec-test", _headers(), "task-123", now=NOW + skew)


def test_signature_within_the_skew_window_is_accepted_at_its_edge() -> None:
    assert verify_callback("whsec-test", _headers(), "task-123", now=NOW + 300, max_skew=300)


def test_callback_token_round_trips_and_binds_the_generation() -> None:
    token = callback_token("secret", 42)

    assert check_callback_token("secret", 42, token)
    assert not check_callback_token("secret", 43, token)
    assert not check_callback_token("other-secret", 42, token)
    assert not check_callback_token("secret", 42, token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_callback_url_carries_generation_id_and_token() -> None:
    url = build_callback_url("https://bot.example/", "secret", "gen-7")

    assert url == f"https://bot.example/kie/callback/gen-7/{callback_token('secret', 'gen-7')}"


def test_parse_callback_accepts_snake_case_task_id() -> None:
    task_id, status = parse_callback({"code": 200, "msg": "ok", "data": {"task_id": "r1", "video_url": "https://v"}})

    assert task_id == "r1"
    assert status.state is TaskState.SUCCESS
    assert status.result_urls == ["https://v"]


def test_parse_callback_reads_suno_stages() -> None:
    text_stage = {"code": 200, "data": {"callbackType": "text", "task_id": "s1", "data": []}}
    complete = {
        "code": 200,
        "data": {
            "callbackType": "complete",
            "task_id": "s1",
            "data": [{"audio_url": "https://a/1.mp3"}, {"audio_url": "https://a/2.mp3"}],
        },
    }

    assert parse_callback(text_stage)[1].state is TaskState.RUNNING
    assert parse_callback(complete)[1].result_urls == ["https://a/1.mp3", "https://a/2.mp3"]


def test_parse_callback_reads_a_family_failure() -> None:
    _, status = parse_callback(
        {"code": 400, "msg": "flagged as violating content policies", "data": {"taskId": "v1", "info": None}}
    )

    assert status.state is TaskState.FAILED
    assert status.fail_code == "400"


def test_parse_callback_without_task_id_is_rejected() -> None:
    with pytest.raises(KieInvalidInput):
        parse_callback({"code": 200, "data": {}})


async def test_emulator_posts_a_signed_callback_matching_record_info(kie: KieClient, receiver: Receiver) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "fox"}, f"{receiver.url}/kie/callback/g1/tok")

    [call] = await receiver.wait_for(1)
    status = await kie.market_record_info(task_id)

    assert call.path == "/kie/callback/g1/tok"
    assert verify_callback(HMAC_KEY, call.headers, task_id, now=time.time())
    parsed_id, parsed = parse_callback(call.body)
    assert parsed_id == task_id
    assert parsed.state is TaskState.SUCCESS
    assert parsed.result_urls == status.result_urls


@pytest.mark.parametrize(
    "spec",
    specs.family_specs(),
    ids=lambda s: s.family.value,
)
async def test_family_callbacks_parse_to_the_same_results_as_polling(
    gateway: KieGateway, receiver: Receiver, spec: object
) -> None:
    task_id = await gateway.submit(spec, {"prompt": "x"}, f"{receiver.url}/cb")  # type: ignore[arg-type]

    [call] = await receiver.wait_for(1)
    polled = await wait_for_status(lambda: gateway.status(spec, task_id))  # type: ignore[arg-type]

    parsed_id, parsed = parse_callback(call.body)
    assert parsed_id == task_id
    assert parsed.state is TaskState.SUCCESS
    assert parsed.result_urls == polled.result_urls


async def test_failed_task_callback_says_failed(kie: KieClient, sandbox: Sandbox, receiver: Receiver) -> None:
    await sandbox.faults(fail_next=1)

    await kie.create_market_task("z-image", {"prompt": "x"}, f"{receiver.url}/cb")
    [call] = await receiver.wait_for(1)

    assert call.body["code"] == 501
    assert parse_callback(call.body)[1].state is TaskState.FAILED


async def test_duplicated_callback_arrives_twice(kie: KieClient, sandbox: Sandbox, receiver: Receiver) -> None:
    await sandbox.faults(duplicate_callback_next=1)

    task_id = await kie.create_market_task("z-image", {"prompt": "x"}, f"{receiver.url}/cb")
    calls = await receiver.wait_for(2)

    assert [parse_callback(c.body)[0] for c in calls] == [task_id, task_id]


async def test_lost_callback_never_arrives_but_polling_still_sees_success(
    kie: KieClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.faults(lose_callbacks=True)

    task_id = await kie.create_market_task("z-image", {"prompt": "x"}, f"{receiver.url}/cb")
    status = await wait_for_status(lambda: kie.market_record_info(task_id))
    await asyncio.sleep(0.1)

    assert status.state is TaskState.SUCCESS
    assert receiver.calls == []
    assert (await sandbox.stats())["events"]["callbacks_lost"] == 1


async def test_early_callback_arrives_before_the_create_answer(
    kie: KieClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    await sandbox.faults(early_callback_next=1)

    task_id = await kie.create_market_task("z-image", {"prompt": "x"}, f"{receiver.url}/cb")

    # Already there when createTask returned: the receiver must cope without the stored task id.
    assert len(receiver.calls) == 1
    assert parse_callback(receiver.calls[0].body)[0] == task_id


async def test_callback_is_retried_when_the_receiver_fails(
    kie: KieClient, sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.answers = [500]

    task_id = await kie.create_market_task("z-image", {"prompt": "x"}, f"{receiver.url}/cb")
    calls = await receiver.wait_for(2)
    # The emulator logs an attempt once the answer is back, a moment after the receiver saw it.
    for _ in range(200):
        [task] = await sandbox.tasks()
        if len(task["callbacks"]) >= 2:
            break
        await asyncio.sleep(0.01)

    assert len(calls) == 2
    assert task["taskId"] == task_id
    assert [c.get("status") for c in task["callbacks"]] == [500, 200]
