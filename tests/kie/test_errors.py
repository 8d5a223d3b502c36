"""Every Kie error code reaches the caller as the right type, and only safe calls are retried."""

from __future__ import annotations

import asyncio

import pytest

from aistudio.kie import (
    KieAuthError,
    KieClient,
    KieContentPolicy,
    KieError,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieInvalidInput,
    KieNotFound,
    KieRateLimited,
    KieSubmitUnknown,
    KieUnavailable,
    TaskState,
    error_for,
)
from tests.kie.conftest import Sandbox, wait_for_status

CREATE = "POST /api/v1/jobs/createTask"
RECORD = "GET /api/v1/jobs/recordInfo"


@pytest.mark.parametrize(
    ("code", "message", "expected", "retryable"),
    [
        (401, "You do not have access permissions", KieAuthError, False),
        (402, "Credits insufficient", KieInsufficientCredits, False),
        (404, "not found", KieNotFound, False),
        (422, "recordInfo is null", KieNotFound, False),
        (422, "input.prompt is required", KieInvalidInput, False),
        (400, "Your prompt was flagged by Website as violating content policies", KieContentPolicy, False),
        (400, "SENSITIVE_WORD_ERROR", KieContentPolicy, False),
        (400, "Only English prompts are supported", KieInvalidInput, False),
        (429, "too many requests", KieRateLimited, True),
        (433, "sub-key limit", KieRateLimited, False),
        (455, "maintenance", KieUnavailable, True),
        (500, "Server Error", KieUnavailable, True),
        (505, "feature disabled", KieUnavailable, False),
        (501, "Generation failed", KieGenerationFailed, False),
        ("501", "Generation failed", KieGenerationFailed, False),
        (None, "whatever", KieGenerationFailed, False),
    ],
)
def test_error_for_maps_kie_codes_to_types(code: object, message: str, expected: type, retryable: bool) -> None:
    error = error_for(code, message)

    assert type(error) is expected
    assert error.retryable is retryable
    assert error.message == message


def test_submit_unknown_is_unavailable_but_never_retryable() -> None:
    error = KieSubmitUnknown(None, "timeout")

    assert isinstance(error, KieUnavailable)
    assert error.retryable is False


async def test_wrong_api_key_raises_auth_error(sandbox: Sandbox) -> None:
    async with KieClient("wrong", base_url=sandbox.url, upload_base_url=sandbox.url) as client:
        with pytest.raises(KieAuthError) as caught:
            await client.credit_balance()

    assert caught.value.code == 401


async def test_low_balance_refuses_the_task_with_402(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.control("POST", "/sandbox/credits", {"credits": 3})

    with pytest.raises(KieInsufficientCredits):
        await kie.create_market_task("google/nano-banana", {"prompt": "costs 4"})

    assert await sandbox.tasks() == []


async def test_missing_required_input_answers_422_naming_the_field(kie: KieClient) -> None:
    with pytest.raises(KieInvalidInput) as caught:
        await kie.create_market_task("z-image", {"aspect_ratio": "1:1"})

    assert caught.value.code == 422
    assert "prompt" in caught.value.message


async def test_value_outside_the_enum_answers_422_naming_the_field(kie: KieClient) -> None:
    with pytest.raises(KieInvalidInput) as caught:
        await kie.create_market_task("z-image", {"prompt": "x", "aspect_ratio": "7:3"})

    assert "aspect_ratio" in caught.value.message


async def test_unknown_model_answers_422(kie: KieClient) -> None:
    with pytest.raises(KieInvalidInput) as caught:
        await kie.create_market_task("no-such/model", {"prompt": "x"})

    assert caught.value.code == 422


async def test_rate_limit_burst_rejects_the_next_creates_with_429(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(rate_limit_next=2)

    for _ in range(2):
        with pytest.raises(KieRateLimited):
            await kie.create_market_task("z-image", {"prompt": "x"})
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})

    assert task_id
    assert await sandbox.requests_to(CREATE) == 3  # each 429 was one request: the client did not retry


async def test_maintenance_answers_455_as_unavailable(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(maintenance_next=1)

    with pytest.raises(KieUnavailable) as caught:
        await kie.create_market_task("z-image", {"prompt": "x"})

    assert caught.value.code == 455
    assert not isinstance(caught.value, KieSubmitUnknown)


async def test_create_server_error_is_unavailable_and_not_resent(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(server_error_next=1)

    with pytest.raises(KieUnavailable) as caught:
        await kie.create_market_task("z-image", {"prompt": "x"})

    assert caught.value.code == 500
    assert not isinstance(caught.value, KieSubmitUnknown)  # a definite answer: no task was created
    assert await sandbox.requests_to(CREATE) == 1
    assert await sandbox.tasks() == []


async def test_generation_failure_gives_a_failed_status_with_501(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(failure_rate=1.0)

    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert status.state is TaskState.FAILED
    assert status.fail_code == "501"
    assert isinstance(status.error(), KieGenerationFailed)
    assert status.result_urls == []


async def test_content_policy_failure_maps_to_content_policy(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(
        fail_next=1, fail_code=400, fail_message="Your prompt was flagged as violating content policies"
    )

    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    status = await wait_for_status(lambda: kie.market_record_info(task_id))

    assert isinstance(status.error(), KieContentPolicy)


async def test_status_query_is_retried_after_server_errors(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    await sandbox.faults(query_error_next=2)

    status = await kie.market_record_info(task_id)

    assert status.task_id == task_id
    assert await sandbox.requests_to(RECORD) == 3


async def test_status_query_gives_up_after_its_attempts(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    await sandbox.faults(query_error_next=10)

    with pytest.raises(KieUnavailable):
        await kie.market_record_info(task_id)

    assert await sandbox.requests_to(RECORD) == 3  # get_attempts in the fixture


async def test_malformed_json_on_a_query_is_unavailable(kie: KieClient, sandbox: Sandbox) -> None:
    task_id = await kie.create_market_task("z-image", {"prompt": "x"})
    await sandbox.faults(query_malformed_next=10)

    with pytest.raises(KieUnavailable) as caught:
        await kie.market_record_info(task_id)

    assert "unreadable" in caught.value.message


async def test_malformed_create_answer_is_submit_unknown_and_not_resent(kie: KieClient, sandbox: Sandbox) -> None:
    await sandbox.faults(malformed_next=1)

    with pytest.raises(KieSubmitUnknown):
        await kie.create_market_task("z-image", {"prompt": "x"})

    assert await sandbox.requests_to(CREATE) == 1
    assert len(await sandbox.tasks()) == 1  # the task exists: exactly why re-sending would be wrong


async def test_create_timeout_is_submit_unknown_and_not_resent(sandbox: Sandbox) -> None:
    await sandbox.faults(slow_next=1, slow_seconds=1.0)
    async with KieClient("test-key", base_url=sandbox.url, upload_base_url=sandbox.url, timeout=0.2) as client:
        with pytest.raises(KieSubmitUnknown) as caught:
            await client.create_market_task("z-image", {"prompt": "x"})

    assert caught.value.retryable is False
    assert await sandbox.requests_to(CREATE) == 1
    assert len(await sandbox.tasks()) == 1


async def test_unreachable_kie_on_create_is_unavailable_not_unknown() -> None:
    # Nothing listens on port 9 of localhost: the request never left, so no task can exist.
    async with KieClient("k", base_url="http://127.0.0.1:9", upload_base_url="http://127.0.0.1:9") as client:
        with pytest.raises(KieUnavailable) as caught:
            await client.create_market_task("z-image", {"prompt": "x"})

    assert not isinstance(caught.value, KieSubmitUnknown)
    assert caught.value.retryable is True


async def _hang_up_server(requests: list[bytes]) -> asyncio.Server:
    """A server that reads a whole request, then closes the connection without answering."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
        )
        requests.append(head + await reader.readexactly(length))
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_server_hanging_up_after_a_create_is_submit_unknown_and_not_resent() -> None:
    # The request reached the server: a task may exist, so it must be neither re-sent nor called refused.
    requests: list[bytes] = []
    server = await _hang_up_server(requests)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server, KieClient("k", base_url=url, upload_base_url=url, backoff_base=0.01) as client:
        with pytest.raises(KieSubmitUnknown) as caught:
            await client.create_market_task("z-image", {"prompt": "x"})
        assert caught.value.retryable is False
        with pytest.raises(KieUnavailable) as query_error:  # a query that meets the same is retried
            await client.market_record_info("task-1")

    assert not isinstance(query_error.value, KieSubmitUnknown)
    lines = [r.split(b" ", 2)[:2] for r in requests]
    assert lines[0] == [b"POST", b"/api/v1/jobs/createTask"]
    assert sum(1 for method, _ in lines if method == b"POST") == 1
    # Four attempts; aiohttp itself may repeat an idempotent GET once on a dropped connection.
    assert 4 <= len(lines) - 1 <= 8
    assert all(line == [b"GET", b"/api/v1/jobs/recordInfo?taskId=task-1"] for line in lines[1:])


def test_every_error_carries_code_and_message() -> None:
    error = error_for(429, "slow down")

    assert isinstance(error, KieError)
    assert (error.code, error.message) == (429, "slow down")
    assert "429" in str(error)


def test_the_aiohttp_pool_is_used_unless_the_environment_names_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    from aistudio.kie.wire import default_transport

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(default_transport(httpx.Limits()), AiohttpTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert default_transport(httpx.Limits()) is None  # httpx's own transport, which reads the proxy
