"""Per-user limits at launch: concurrency, money, and the free tier."""

from __future__ import annotations

import asyncio

import pytest

from aistudio.billing.errors import InsufficientFunds
from aistudio.generation.launch import LaunchRefused
from aistudio.generation.states import State
from aistudio.pricing.free_tier import FreeRefusal
from tests.generation.harness import FREE_MODEL, PAID_MODEL, PAID_PRICE, Harness


async def test_third_concurrent_generation_is_refused_and_not_charged(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 100_000})
    user = await h.user(1, balance=10_000)
    await h.launch(user)
    await h.launch(user)

    with pytest.raises(LaunchRefused) as info:
        await h.launch(user)

    assert info.value.reason == "too_many_running"
    assert await h.available(user) == 10_000 - 2 * PAID_PRICE


async def test_racing_launches_never_exceed_the_limit_or_the_balance(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 100_000})
    user = await h.user(1, balance=10_000)
    offer = await h.service.offer(PAID_MODEL, {"prompt": "fox"})

    results = await asyncio.gather(*(h.service.launch(user, offer) for _ in range(10)), return_exceptions=True)

    launched = [r for r in results if not isinstance(r, BaseException)]
    assert len(launched) == 2
    assert all(isinstance(r, LaunchRefused) for r in results if isinstance(r, BaseException))
    assert await h.available(user) == 10_000 - 2 * PAID_PRICE


async def test_short_balance_is_refused_with_the_shortfall(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    user = await h.user(1, balance=100)

    with pytest.raises(InsufficientFunds) as info:
        await h.launch(user)

    assert info.value.shortfall == PAID_PRICE - 100
    assert await h.available(user) == 100


async def test_free_model_within_limit_costs_nothing_and_a_failure_gives_the_use_back(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()
    user = await h.user(1, balance=0)
    await h.faults(model=FREE_MODEL, fail_next=1)

    failed = await h.wait_state((await h.launch(user, FREE_MODEL)).id, State.FAILED)
    first = await h.wait_state((await h.launch(user, FREE_MODEL)).id, State.COMPLETED)
    second = await h.wait_state((await h.launch(user, FREE_MODEL)).id, State.COMPLETED)
    with pytest.raises(LaunchRefused) as info:
        await h.launch(user, FREE_MODEL)

    assert failed.is_free and first.is_free and second.is_free
    assert (first.charged_kopecks, second.charged_kopecks) == (0, 0)
    assert info.value.reason == "free_limit" and info.value.details["refusal"] == FreeRefusal.HOURLY
    assert info.value.details["retry_at"] is not None
    assert h.delivery.failed[0][1].refunded_kopecks == 0
    await h.assert_books_balanced()


async def test_free_limit_can_be_paid_past_when_the_user_agrees(with_callbacks: Harness) -> None:
    h = with_callbacks
    h.build()
    h.start_worker()
    user = await h.user(1, balance=1_000)
    for _ in range(2):
        await h.wait_state((await h.launch(user, FREE_MODEL)).id, State.COMPLETED)
    offer = await h.service.offer(FREE_MODEL, {"prompt": "fox"})

    paid = await h.service.launch(user, offer, pay_if_not_free=True)
    done = await h.wait_state(paid.id, State.COMPLETED)

    assert not done.is_free and done.charged_kopecks == offer.quote.kopecks > 0
    assert await h.available(user) == 1_000 - offer.quote.kopecks
