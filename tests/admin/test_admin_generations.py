"""Admin generation tools: failures grouped by model and class, lookup with the timeline, a refund once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.audit import recent
from aistudio.admin.generations import (
    RefundRefused,
    find_generation,
    parse_generation_ref,
    recent_failures,
    refund_generation,
)
from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, operator_balance, wallet_balance
from aistudio.db.sql import utcnow
from tests.admin.admin_rows import add_generation
from tests.support import make_user


@pytest.fixture
async def ledger(engine: AsyncEngine) -> Ledger:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    return ledger


def test_references_are_request_ids_or_numbers() -> None:
    assert parse_generation_ref(" rq-abcd2345 ") == ("rq", "RQ-ABCD2345")
    assert parse_generation_ref("#42") == ("id", 42) and parse_generation_ref("42") == ("id", 42)
    assert parse_generation_ref("RQ-123") is None and parse_generation_ref("hello") is None
    assert parse_generation_ref("9" * 30) is None


async def test_failures_of_the_last_day_are_grouped_by_model_and_class(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 1)
    old = utcnow() - timedelta(hours=30)
    await add_generation(
        engine, request_id="RQ-OLD22222", user_id=user, state="failed", error_class="upstream", created_at=old
    )
    for n, (model, error) in enumerate(
        [("veo", "upstream"), ("veo", "upstream"), ("veo", "timed_out"), ("z-image", "upstream"), ("z-image", None)]
    ):
        await add_generation(
            engine, request_id=f"RQ-FAIL{n}AAA", user_id=user, model_id=model, state="failed", error_class=error,
            created_at=utcnow() - timedelta(minutes=10 - n),
        )  # fmt: skip
    await add_generation(engine, request_id="RQ-GOOD2222", user_id=user, model_id="veo")

    groups = await recent_failures(engine)

    assert [(g.model_id, g.error_class, g.count) for g in groups] == [
        ("veo", "upstream", 2), ("veo", "timed_out", 1), ("z-image", "unknown", 1), ("z-image", "upstream", 1),
    ]  # fmt: skip
    assert groups[0].last_request_id == "RQ-FAIL1AAA"


async def test_a_generation_is_found_by_request_id_or_id_with_its_timeline(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 2)
    gid = await add_generation(engine, request_id="RQ-FIND2345", user_id=user, state="failed", error_class="upstream")

    by_rq = await find_generation(engine, "rq-find2345")
    by_id = await find_generation(engine, str(gid))

    assert by_rq is not None and by_id is not None and by_rq.id == by_id.id == gid
    assert [e.state for e in by_rq.events] == ["held", "submitted", "failed"]
    assert by_rq.events[-1].error_class == "upstream" and by_rq.kie_code == 501
    assert not by_rq.refundable
    assert await find_generation(engine, "RQ-NONE2345") is None and await find_generation(engine, "junk") is None


async def test_a_captured_generation_is_refunded_once(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 3, balance=1_000)
    await ledger.hold("gen:RQ-PAID2345:hold", user, 380)
    await ledger.capture("gen:RQ-PAID2345:capture", "gen:RQ-PAID2345:hold")
    gid = await add_generation(engine, request_id="RQ-PAID2345", user_id=user, charged=380)
    failed = await add_generation(engine, request_id="RQ-FAIL2345", user_id=user, state="failed", error_class="x")

    first = await refund_generation(engine, ledger, admin_id=9, generation_id=gid)
    second = await refund_generation(engine, ledger, admin_id=9, generation_id=gid)

    assert (first.amount_kopecks, first.duplicate, second.duplicate) == (380, False, True)
    assert (await wallet_balance(engine, user)).available == 1_000
    assert await operator_balance(engine, Operator.REVENUE) == 0
    details = await find_generation(engine, str(gid))
    assert details is not None and details.refunded_kopecks == 380 and not details.refundable
    assert [(e.action, e.target, e.admin_id) for e in await recent(engine, limit=5)] == [
        ("generation.refund", f"generation:{gid}", 9)
    ]
    for refused_id, code in ((failed, "not_captured"), (999_999, "not_found")):
        with pytest.raises(RefundRefused) as refused:
            await refund_generation(engine, ledger, admin_id=9, generation_id=refused_id)
        assert refused.value.code == code
    assert (await check_invariants(engine)).ok
