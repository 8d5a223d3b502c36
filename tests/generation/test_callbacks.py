"""Our callback route: forged, unsigned or mismatched callbacks change nothing."""

from __future__ import annotations

import time

from aistudio.generation.states import State
from aistudio.kie.callbacks import callback_token, sign_callback
from tests.generation.harness import PAID_MODEL, Harness


async def post(h: Harness, path: str, body: object, headers: dict[str, str] | None = None) -> int:
    response = await h.http.post(f"{h.callback_url}{path}", json=body, headers=headers or {})
    return response.status_code


async def held_generation(h: Harness) -> int:
    """A submitted generation whose task never ends on its own."""
    h.build()
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 100_000})
    user = await h.user(1, balance=1_000)
    gen = await h.launch(user)
    return (await h.wait_state(gen.id, State.SUBMITTED)).id


async def test_forged_token_unknown_generation_and_bad_json_are_refused(with_callbacks: Harness) -> None:
    h = with_callbacks
    gid = await held_generation(h)
    gen = await h.generation(gid)
    body = {"code": 200, "msg": "ok", "data": {"taskId": gen.kie_task_id, "state": "success"}}

    forged = await post(h, f"/kie/callback/{gid}/not-our-token", body)
    unknown = await post(h, f"/kie/callback/999/{callback_token('test-secret', 999)}", body)
    wrong_task = await post(
        h, f"/kie/callback/{gid}/{callback_token('test-secret', gid)}",
        {"code": 200, "data": {"taskId": "someone-elses-task", "state": "success"}},
    )  # fmt: skip
    bad_json = (
        await h.http.post(
            f"{h.callback_url}/kie/callback/{gid}/{callback_token('test-secret', gid)}", content=b"{not json"
        )
    ).status_code

    assert (forged, unknown, wrong_task, bad_json) == (403, 404, 409, 400)
    after = await h.generation(gid)
    assert after.state is State.SUBMITTED and h.delivery.delivered == []


async def test_a_callback_claiming_success_is_checked_with_kie(with_callbacks: Harness) -> None:
    h = with_callbacks
    gid = await held_generation(h)
    gen = await h.generation(gid)
    forged_result = '{"resultUrls": ["http://evil.example/x.png"]}'
    lie = {
        "code": 200,
        "msg": "ok",
        "data": {"taskId": gen.kie_task_id, "state": "success", "resultJson": forged_result},
    }

    status = await post(h, f"/kie/callback/{gid}/{callback_token('test-secret', gid)}", lie)
    await h.service.drain()

    assert status == 200  # accepted as a hint ...
    after = await h.generation(gid)
    assert after.state is State.SUBMITTED and after.result_urls == []  # ... but Kie says it is still running


async def test_signed_callbacks_are_required_when_an_hmac_key_is_set(with_callbacks: Harness) -> None:
    h = with_callbacks
    gid = await held_generation(h)
    h.build(kie_hmac_key="whsec-1")
    gen = await h.generation(gid)
    path = f"/kie/callback/{gid}/{callback_token('test-secret', gid)}"
    body = {"code": 200, "data": {"taskId": gen.kie_task_id, "state": "waiting"}}
    now = str(int(time.time()))

    unsigned = await post(h, path, body)
    forged = await post(h, path, body, {"X-Webhook-Timestamp": now, "X-Webhook-Signature": "AAAA"})
    signed = await post(
        h, path, body,
        {"X-Webhook-Timestamp": now, "X-Webhook-Signature": sign_callback("whsec-1", gen.kie_task_id or "", now)},
    )  # fmt: skip

    assert (unsigned, forged, signed) == (401, 401, 200)
