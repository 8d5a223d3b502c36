"""Launch: validate, price, then hold the money (or reserve a free use) and write the row, atomically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aistudio.catalog.models import ModelSpec
from aistudio.catalog.validation import validate_inputs
from aistudio.db.rawsql import DuplicateKey, Sql
from aistudio.generation.context import Pipeline
from aistudio.generation.repo import Generation, new_request_id
from aistudio.generation.states import State
from aistudio.pricing.free_tier import FreeDecision
from aistudio.pricing.fx import FxRate
from aistudio.pricing.price import Quote, quote


class LaunchRefused(Exception):
    """The launch did not happen; nothing was charged. `reason` picks the user's message."""

    def __init__(self, reason: str, **details: Any) -> None:
        self.reason = reason  # model_unavailable | too_many_running | free_limit | already_launched
        self.details = details
        super().__init__(f"{reason}: {details}")


@dataclass(frozen=True)
class Offer:
    """What the user is shown before Launch: the exact price, or that it is free."""

    model: ModelSpec
    inputs: dict[str, Any]
    quote: Quote
    fx: FxRate
    free: bool


def price_offer(pipeline: Pipeline, model_id: str, raw_inputs: dict[str, Any], fx: FxRate) -> Offer:
    """Validate the inputs and price them. Raises `InputValidationError` or `LaunchRefused`."""
    try:
        model = pipeline.catalog.get(model_id)
    except KeyError:
        raise LaunchRefused("model_unavailable", model_id=model_id) from None
    if not model.enabled or model.hidden:
        raise LaunchRefused("model_unavailable", model_id=model_id)
    inputs = validate_inputs(model, raw_inputs)
    markup = pipeline.markup_for(model_id) or pipeline.settings.markup
    offer_quote = quote(
        model, inputs, usd_per_credit=pipeline.settings.usd_per_credit, fx_rub_per_usd=fx.rub_per_usd, markup=markup
    )
    return Offer(model, inputs, offer_quote, fx, free=model_id in pipeline.free_model_ids)


LAUNCHED = Sql("SELECT id FROM generations WHERE request_id = :request_id")


async def launch(
    pipeline: Pipeline,
    *,
    user_id: int,
    offer: Offer,
    chat_id: int | None = None,
    source_generation_id: int | None = None,
    pay_if_not_free: bool = False,
    request_id: str | None = None,
) -> Generation:
    """Write the generation with its hold (or free use) in one transaction; Kie is called afterwards.

    Raises `InsufficientFunds`, `LaunchRefused` (too many running, free limit reached). A free model whose
    limit is reached is launched as a paid one only when `pay_if_not_free` is set.

    A caller-chosen `request_id` makes the launch idempotent across processes: the user's row lock orders
    launches, and one finding its request id already written is refused as `already_launched` (the unique
    request id is the last word should the lock be missing).
    """
    now = pipeline.now()
    given_id, request_id = request_id is not None, request_id or new_request_id()
    deadline = now + timedelta(seconds=offer.model.timeout_seconds + 120)  # + room for queueing and retries
    async with pipeline.db.transaction() as tx:
        await pipeline.repo.lock_user(tx, user_id)
        if given_id and (row := await tx.fetchrow(LAUNCHED, request_id=request_id)) is not None:
            raise LaunchRefused("already_launched", generation_id=row[0])
        running = await pipeline.repo.count_active(tx, user_id)
        if running >= pipeline.settings.max_concurrent_per_user:
            raise LaunchRefused("too_many_running", running=running)
        is_free = False
        if offer.free:
            decision: FreeDecision = await pipeline.free_tier.reserve(
                tx, user_id, offer.model.id, offer.quote.credits, f"gen:{request_id}", now=now
            )
            is_free = decision.allowed
            if not is_free and not pay_if_not_free:
                raise LaunchRefused("free_limit", refusal=decision.refusal, retry_at=decision.retry_at)
        hold_key = None
        if not is_free:
            hold_key = f"gen:{request_id}:hold"
            await pipeline.ledger.hold(
                hold_key, user_id, offer.quote.kopecks, reason=offer.model.id, meta={"request_id": request_id}, tx=tx
            )
        try:
            gen = await pipeline.repo.insert(
                tx,
                request_id=request_id,
                user_id=user_id,
                model_id=offer.model.id,
                family=offer.model.family.value,
                inputs=offer.inputs,
                is_free=is_free,
                credits=offer.quote.credits,
                price=0 if is_free else offer.quote.kopecks,
                fx=offer.fx.rub_per_usd,
                markup=offer.quote.markup,
                hold_key=hold_key,
                chat_id=chat_id,
                source_id=source_generation_id,
                now=now,
                deadline=deadline,
            )
        except DuplicateKey:
            if given_id:  # no user row to lock: the unique request id still tells
                raise LaunchRefused("already_launched") from None
            raise
        await pipeline.repo.record_event(tx, gen, State.HELD, now, detail={"fx_source": offer.fx.source})
    return gen
