"""FSM states of the user journey: browsing the catalog (text = search) and the wizard's steps."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class CatalogStates(StatesGroup):
    browsing = State()  # a text message searches the catalog


class WizardStates(StatesGroup):
    step = State()  # asking a wizard field; the data's "step" says which
    setting = State()  # editing an optional field under ⚙️ Settings; the data's "edit" says which
    summary = State()  # the last screen: price, balance after, Launch
    launching = State()  # Launch pressed: a second press is refused
