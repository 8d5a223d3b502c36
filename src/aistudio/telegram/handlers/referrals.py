"""🤝 Invite friends: the user's referral link, how the reward works, how many came and what they earned.

Also the referrer's notice when a reward is credited (`reward_notifier`, wired as the hook's callback in
`aistudio.app`). The rules live in `aistudio.growth.referrals`.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

import sqlalchemy as sa
from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncEngine

from aistudio.db.repo.users import UserRow
from aistudio.db.tables import users
from aistudio.growth.referrals import REF_PREFIX, Referrals, RewardNotifier
from aistudio.i18n import Translator
from aistudio.pricing.price import format_rub
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.keyboards import menu_button
from aistudio.telegram.screens import show_screen
from aistudio.telegram.services import BotServices


def referrals(services: BotServices) -> Referrals:
    return Referrals(services.engine, services.ledger, services.settings.referral_percent)


def percent_text(percent: Decimal) -> str:
    return f"{percent.normalize():f}"


async def bot_username(services: BotServices) -> str:
    return services.settings.bot_username or (await services.bot.me()).username or ""


async def referral_link(services: BotServices, user_id: int) -> str:
    code = await referrals(services).code_of(user_id)
    return f"https://t.me/{await bot_username(services)}?start={REF_PREFIX}{code}"


async def on_invite(query: CallbackQuery, services: BotServices, user: UserRow, lang: str) -> None:
    await query.answer()
    t = services.t
    link = await referral_link(services, user.id)
    stats = await referrals(services).stats(user.id)
    text = t(
        "referrals.title", lang, link=link, percent=percent_text(services.settings.referral_percent),
        invited=stats.invited, earned=format_rub(stats.earned_kopecks),
    )  # fmt: skip
    share = f"https://t.me/share/url?url={quote(link, safe='')}&text={quote(t('referrals.share_text', lang))}"
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("referrals.share", lang), url=share)],
            [menu_button(t, lang)],
        ]
    )
    await show_screen(query, text, markup)


def reward_notifier(bot: Bot, engine: AsyncEngine, t: Translator) -> RewardNotifier:
    """Tell a referrer, in their language, that a reward arrived."""

    async def notify(referrer_id: int, amount_kopecks: int) -> None:
        async with engine.connect() as conn:
            lang = (await conn.execute(sa.select(users.c.language).where(users.c.id == referrer_id))).scalar()
        text = t("referrals.reward_notice", lang or "ru", amount=format_rub(amount_kopecks))
        await bot.send_message(referrer_id, text)

    return notify


def build_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only; tests build many)."""
    router = Router(name=__name__)
    router.callback_query.register(on_invite, MenuCb.filter(F.to == "invite"))
    return router
