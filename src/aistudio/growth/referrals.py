"""Referrals: each user's code, binding a newcomer to the user who invited them, and the referrer's reward.

A user arriving through `t.me/<bot>?start=ref_<code>` is bound to the code's owner once: only while a newcomer
(registered within `NEWCOMER_WINDOW` and without any top-up yet), never to themselves, never re-bound; all of it
is one guarded UPDATE. It does not depend on the /start being the one that created the user: a crash after the
user row committed leaves the redelivered /start to bind them.
The referrer then earns `REFERRAL_PERCENT` of each of the referee's paid top-ups; top-up hooks fire only
for paid top-ups, so bonuses, promo credits and rewards never earn anything. A reward is recorded in
`referral_rewards` (one row per payment) and credited under `referral:<payment_id>`; re-running the hook
credits nothing new and notifies nobody twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.billing.accounts import Operator
from aistudio.billing.ledger import Ledger
from aistudio.db.sql import insert_ignore, utcnow
from aistudio.db.tables import payments, referral_rewards, users
from aistudio.payments.topups import TopupCredited

log = logging.getLogger(__name__)

REF_PREFIX = "ref_"
CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0): codes get read aloud
CODE_LENGTH = 10  # ~50 bits: not guessable, still short in a link
# How long after registering a /start still counts as the first one (a redelivery after a crash, a retry):
# it may still bind a referrer and pay the welcome bonus. Long-standing users never get either by a /start.
NEWCOMER_WINDOW = timedelta(hours=1)

# (referrer id, kopecks earned) → tell the referrer; a failure is logged, never fails the reward.
RewardNotifier = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class ReferralStats:
    invited: int
    earned_kopecks: int


def referral_key(payment_id: int) -> str:
    return f"referral:{payment_id}"


def new_referral_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def is_newcomer(created_at: datetime, now: datetime | None = None) -> bool:
    return (now or utcnow()) - created_at < NEWCOMER_WINDOW


def reward_for(amount_kopecks: int, percent: Decimal) -> int:
    """The referrer's share of a top-up, rounded down to whole kopecks."""
    return int((Decimal(amount_kopecks) * percent / 100).to_integral_value(rounding=ROUND_DOWN))


class Referrals:
    def __init__(
        self, engine: AsyncEngine, ledger: Ledger, percent: Decimal, *, notify: RewardNotifier | None = None
    ) -> None:
        self.engine = engine
        self.ledger = ledger
        self.percent = percent
        self.notify = notify

    async def code_of(self, user_id: int) -> str:
        """The user's referral code, made on first request (users from before referrals have none)."""
        for _ in range(5):
            async with self.engine.connect() as conn:
                current = (
                    await conn.execute(sa.select(users.c.referral_code).where(users.c.id == user_id))
                ).scalar_one()
            if current:
                return str(current)
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(
                        sa.update(users)
                        .where(users.c.id == user_id, users.c.referral_code.is_(None))
                        .values(referral_code=new_referral_code())
                    )
            except IntegrityError:  # another user holds that code: draw again
                continue
        raise RuntimeError(f"could not give user {user_id} a referral code")

    async def owner_of(self, code: str) -> int | None:
        async with self.engine.connect() as conn:
            owner = (await conn.execute(sa.select(users.c.id).where(users.c.referral_code == code))).scalar()
        return int(owner) if owner is not None else None

    async def bind(self, user_id: int, code: str, *, now: datetime | None = None) -> int | None:
        """Bind a newcomer to the code's owner; returns the referrer's id, or None when nothing was bound."""
        if not code:
            return None
        referrer = await self.owner_of(code)
        if referrer is None or referrer == user_id:
            return None
        topped_up = sa.exists().where(payments.c.user_id == user_id)
        async with self.engine.begin() as conn:
            bound = await conn.execute(
                sa.update(users)
                .where(users.c.id == user_id, users.c.referred_by.is_(None), users.c.id != referrer)
                .where(users.c.created_at > (now or utcnow()) - NEWCOMER_WINDOW, ~topped_up)
                .values(referred_by=referrer)
            )
        if bound.rowcount:
            log.info("user %s invited by %s", user_id, referrer)
            return referrer
        return None

    async def stats(self, user_id: int) -> ReferralStats:
        async with self.engine.connect() as conn:
            invited = (
                await conn.execute(sa.select(sa.func.count()).select_from(users).where(users.c.referred_by == user_id))
            ).scalar_one()
            earned = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(referral_rewards.c.amount_kopecks), 0)).where(
                        referral_rewards.c.referrer_id == user_id
                    )
                )
            ).scalar_one()
        return ReferralStats(int(invited), int(earned))

    async def reward_topup(self, event: TopupCredited) -> None:
        """The top-up hook: credit the referee's referrer their share of this paid top-up, once."""
        async with self.engine.connect() as conn:
            referrer = (await conn.execute(sa.select(users.c.referred_by).where(users.c.id == event.user_id))).scalar()
        if referrer is None:
            return
        amount = reward_for(event.amount_kopecks, self.percent)
        if amount <= 0:
            return
        async with self.engine.begin() as conn:
            await conn.execute(
                insert_ignore(conn, referral_rewards, ["payment_id"]).values(
                    payment_id=event.payment_id,
                    referrer_id=referrer,
                    referee_id=event.user_id,
                    amount_kopecks=amount,
                    created_at=utcnow(),
                )
            )
            # A re-run credits what was recorded the first time, even if the percentage changed since.
            recorded = (
                await conn.execute(
                    sa.select(referral_rewards.c.referrer_id, referral_rewards.c.amount_kopecks).where(
                        referral_rewards.c.payment_id == event.payment_id
                    )
                )
            ).one()
        result = await self.ledger.credit(
            referral_key(event.payment_id),
            recorded.referrer_id,
            recorded.amount_kopecks,
            Operator.REFERRAL,
            reason="referral reward",
            meta={"payment_id": event.payment_id, "referee_id": event.user_id},
        )
        if result.duplicate or self.notify is None:
            return
        try:
            await self.notify(recorded.referrer_id, recorded.amount_kopecks)
        except Exception:  # the reward is credited; a lost notice must not make the hook run again
            log.warning("could not notify referrer %s of payment %s", recorded.referrer_id, event.payment_id)


async def record_start_payload(engine: AsyncEngine, user_id: int, payload: str) -> None:
    """Remember where a newcomer came from (the first /start's deep-link payload), never overwritten."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users)
            .where(users.c.id == user_id, users.c.start_payload.is_(None))
            .values(start_payload=payload[:64])
        )
