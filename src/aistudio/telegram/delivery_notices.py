"""Notices about deliveries the pipeline could not confirm (kept apart from the result-sending code)."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from aistudio.generation.repo import Generation
from aistudio.telegram.callbacks import MenuCb
from aistudio.telegram.delivery import TelegramDelivery
from aistudio.telegram.keyboards import menu_button


class AppDelivery(TelegramDelivery):
    """`TelegramDelivery` plus the notice for a result whose sending a restart could not confirm."""

    async def unconfirmed(self, gen: Generation) -> None:
        lang = await self._lang(gen.user_id)
        model = self.catalog.get(gen.model_id).name.get(lang)
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=self.t("delivery.open_history", lang), callback_data=MenuCb(to="history").pack()
                    )
                ],
                [menu_button(self.t, lang)],
            ]
        )
        text = self.t("delivery.unconfirmed", lang, model=model, request_id=gen.request_id)
        await self.bot.send_message(gen.chat_id or gen.user_id, text, reply_markup=keyboard)
