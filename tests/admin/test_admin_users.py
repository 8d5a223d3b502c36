"""Admin user tools: search, balance corrections (refusals, ledger, audit), bans."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.admin.audit import recent, record
from aistudio.admin.users import (
    Adjustment,
    AdjustRefused,
    adjust_balance,
    find_users,
    parse_adjustment,
    set_banned,
    user_card,
)
from aistudio.billing.ledger import Ledger
from aistudio.billing.queries import check_invariants, wallet_balance
from aistudio.db.repo.users import upsert_user
from aistudio.db.sql import utcnow
from aistudio.db.tables import ledger_transfers, users
from tests.admin.admin_rows import add_generation
from tests.support import make_user


@pytest.fixture
async def ledger(engine: AsyncEngine) -> Ledger:
    ledger = Ledger(engine)
    await ledger.accounts.ensure_operator_accounts()
    return ledger


async def test_search_by_id_username_and_name_ignores_case_and_wildcards(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await upsert_user(conn, 11, username="MaryMarketer", first_name="Мария Иванова")
        await upsert_user(conn, 12, username="petr_100", first_name="Petr Mariev")
        await upsert_user(conn, 13, username=None, first_name="Anna")

    assert [u.id for u in await find_users(engine, "12")] == [12]
    assert [u.id for u in await find_users(engine, "@marymarketer")] == [11]
    assert [u.id for u in await find_users(engine, "@mary")] == []  # @username is exact
    assert [u.id for u in await find_users(engine, "MARIE")] == [12]
    assert [u.id for u in await find_users(engine, "mar")] == [11, 12]  # name or username
    assert [u.id for u in await find_users(engine, "ANNA")] == [13]
    assert await find_users(engine, "%") == [] and [u.id for u in await find_users(engine, "_")] == [12]
    assert await find_users(engine, "   ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+150 compensation", (15000, "compensation")),
        ("-50.5 duplicate bonus", (-5050, "duplicate bonus")),
        ("200,25 ₽ goodwill for RQ-ABCD2345", (20025, "goodwill for RQ-ABCD2345")),
        ("10 руб. за ошибку", (1000, "за ошибку")),
    ],
)
def test_an_adjustment_is_an_amount_and_a_reason(text: str, expected: tuple[int, str]) -> None:
    parsed = parse_adjustment(text)
    assert (parsed.delta_kopecks, parsed.reason) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("plenty", "not_a_number"),
        ("", "not_a_number"),
        ("abc 100 reason", "not_a_number"),
        ("150", "no_reason"),
        ("150   ", "no_reason"),
        ("0 nothing", "zero"),
        ("0.001 rounding", "not_a_number"),
        ("100001 typo", "too_large"),
    ],
)
def test_bad_adjustments_are_refused_with_a_reason_code(text: str, code: str) -> None:
    with pytest.raises(AdjustRefused) as refused:
        parse_adjustment(text)
    assert refused.value.code == code


async def test_adjust_moves_the_ledger_once_and_audits_and_never_overdraws(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 21, balance=2_000)

    with pytest.raises(AdjustRefused) as refused:
        await adjust_balance(
            engine, ledger, key="k0", admin_id=1, user_id=user, adjustment=Adjustment(-2_001, "too much")
        )
    assert (refused.value.code, refused.value.available) == ("exceeds_balance", 2_000)
    with pytest.raises(AdjustRefused) as unknown:
        await adjust_balance(engine, ledger, key="k1", admin_id=1, user_id=999, adjustment=Adjustment(100, "x"))
    assert unknown.value.code == "unknown_user"

    async def adjust(key: str, delta: int, reason: str) -> int:
        balance = await adjust_balance(
            engine, ledger, key=key, admin_id=7, user_id=user, adjustment=Adjustment(delta, reason)
        )
        return balance.available

    assert [await adjust("k2", 500, "gift"), await adjust("k2", 500, "gift"), await adjust("k3", -2_500, "all")] == [
        2_500, 2_500, 0,
    ]  # fmt: skip

    entries = await recent(engine, limit=10, target=f"user:{user}")
    assert [(e.action, e.admin_id, e.reason) for e in entries] == [
        ("balance.adjust", 7, "all"),
        ("balance.adjust", 7, "gift"),
    ]
    async with engine.connect() as conn:
        adjusts = (
            await conn.execute(sa.select(sa.func.count()).where(ledger_transfers.c.kind == "adjust"))
        ).scalar_one()
    assert adjusts == 2
    assert (await check_invariants(engine)).ok


async def test_ban_and_unban_are_audited_and_reset_the_notice(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 31)
    async with engine.begin() as conn:
        await conn.execute(sa.update(users).where(users.c.id == user).values(banned_notice_at=utcnow()))

    assert await set_banned(engine, admin_id=5, user_id=user, banned=True)
    assert not await set_banned(engine, admin_id=5, user_id=user, banned=True)  # already banned
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(users.c.is_banned, users.c.banned_notice_at).where(users.c.id == user))
        ).one()
    assert row.is_banned and row.banned_notice_at is None
    assert await set_banned(engine, admin_id=5, user_id=user, banned=False)
    assert not await set_banned(engine, admin_id=5, user_id=404, banned=True)

    entries = await recent(engine, limit=5)
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("user.unban", {"is_banned": True}, {"is_banned": False}),
        ("user.ban", {"is_banned": False}, {"is_banned": True}),
    ]


async def test_the_card_sums_generations_and_shows_the_latest(engine: AsyncEngine, ledger: Ledger) -> None:
    user = await make_user(engine, ledger, 41, balance=1_000)
    await add_generation(engine, request_id="RQ-AAAAAAA2", user_id=user, charged=380)
    await add_generation(engine, request_id="RQ-AAAAAAA3", user_id=user, state="failed", error_class="upstream")

    card = await user_card(engine, user)

    assert card is not None and card.balance == await wallet_balance(engine, user)
    assert (card.generations, card.spent_kopecks, card.paid_in_kopecks) == (2, 380, 0)
    assert {g.request_id for g in card.last_generations} == {"RQ-AAAAAAA2", "RQ-AAAAAAA3"}
    assert await user_card(engine, 4040) is None


async def test_audit_rows_join_the_callers_transaction(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await record(conn, admin_id=1, action="test.rolled_back", target="x:1")
            raise RuntimeError("the change failed")
    for n in range(3):
        await record(engine, admin_id=n, action=f"test.{n}", target="x:2" if n else "x:3", before={"n": n}, reason="r")

    assert [e.action for e in await recent(engine, limit=10)] == ["test.2", "test.1", "test.0"]
    assert [e.action for e in await recent(engine, limit=1, offset=1)] == ["test.1"]
    assert [e.action for e in await recent(engine, limit=10, target="x:2")] == ["test.2", "test.1"]
    assert (await recent(engine, limit=1))[0].before == {"n": 2}
