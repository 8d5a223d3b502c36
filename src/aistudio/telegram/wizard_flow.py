"""The wizard's state and rules, without Telegram: which field comes next, which values a button offers, and
whether a typed or uploaded value is acceptable for one field.

Everything the wizard remembers lives in the FSM data as plain JSON (it may be stored in Redis); buttons
carry only indexes into it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.catalog.validation import InputValidationError, validate_inputs
from aistudio.i18n import Translator

MAX_BUTTON_CHOICES = 14  # a whole-number range of up to this many values is offered as buttons
OPTIONS_PER_PAGE = 24


@dataclass
class WizardData:
    """The wizard's memory for one user, kept in the FSM data."""

    model_id: str
    values: dict[str, Any] = field(default_factory=dict)  # what the user chose so far, raw
    step: int = 0  # index into `wizard_fields(model)`; == len means the summary
    edit: str | None = None  # the optional field being changed under ⚙️ Settings
    options_page: int = 0  # page of a long list of options
    source_id: int | None = None  # the generation whose result is an input here
    sec: str = ""  # the catalog list the wizard was started from (for Back from the first step)
    page: int = 0
    shown_price: int | None = None  # kopecks on the summary the user saw (Launch charges exactly this)
    shown_free: bool = False
    panel: int | None = None  # id of the message showing the current screen
    request_id: str | None = None  # this wizard's launch, made with its first summary (see wizard_launch)

    @classmethod
    def load(cls, data: dict[str, Any]) -> WizardData | None:
        raw = data.get("wizard")
        if not isinstance(raw, dict):
            return None
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError:
            return None

    def dump(self) -> dict[str, Any]:
        return {"wizard": asdict(self)}


def wizard_fields(model: ModelSpec) -> list[InputField]:
    """The inputs asked step by step."""
    return [f for f in model.inputs if f.ask == "wizard"]


def setting_fields(model: ModelSpec) -> list[InputField]:
    """The optional inputs under ⚙️ Settings."""
    return [f for f in model.inputs if f.ask == "advanced"]


def next_open_step(model: ModelSpec, values: dict[str, Any], start: int = 0) -> int:
    """The first wizard step from `start` whose field has no value yet; len(fields) when all are answered."""
    fields = wizard_fields(model)
    for index in range(max(start, 0), len(fields)):
        if fields[index].name not in values:
            return index
    return len(fields)


def current_field(model: ModelSpec, wizard: WizardData) -> InputField | None:
    """The field the user is answering now (a step, or a setting being changed)."""
    if wizard.edit is not None:
        try:
            return model.field(wizard.edit)
        except KeyError:
            return None
    fields = wizard_fields(model)
    return fields[wizard.step] if 0 <= wizard.step < len(fields) else None


def choices(f: InputField) -> list[Any] | None:
    """The values offered as buttons, or None when the user types the value."""
    if f.media or f.is_multi:
        return None
    if f.enum is not None:
        return list(f.enum)
    if f.type == "boolean":
        return [True, False]
    if f.type in ("integer", "number") and f.minimum is not None and f.maximum is not None:
        span = f.maximum - f.minimum
        if f.type == "number" and 0 < span <= 1:
            steps = 4
            return [_tidy(f.minimum + span * i / steps) for i in range(steps + 1)]
        if float(f.minimum).is_integer() and 0 < span + 1 <= MAX_BUTTON_CHOICES:
            return list(range(int(f.minimum), int(f.maximum) + 1))
    return None


def _tidy(number: float) -> int | float:
    number = round(number, 4)
    return int(number) if float(number).is_integer() else number


def option_page(options: list[Any], page: int) -> tuple[list[tuple[int, Any]], int, int]:
    """(index, value) pairs of one page of options, the page shown and the page count."""
    count = max(1, -(-len(options) // OPTIONS_PER_PAGE))
    page = min(max(page, 0), count - 1)
    start = page * OPTIONS_PER_PAGE
    return list(enumerate(options))[start : start + OPTIONS_PER_PAGE], page, count


def check_value(model: ModelSpec, f: InputField, raw: Any, t: Translator, lang: str) -> tuple[Any, list[str]]:
    """Coerce and check one field's value against its spec: (the value to keep, problems in the user's words)."""
    single = model.model_copy(update={"inputs": [f.model_copy(update={"required": True})]})
    try:
        checked = validate_inputs(single, {f.name: raw})
    except InputValidationError as exc:
        return raw, [p.message(single, lang, t) for p in exc.problems]
    return checked.get(f.name, raw), []


def value_text(t: Translator, lang: str, f: InputField, value: Any) -> str:
    """A value as the user reads it (not escaped: callers escape what users typed)."""
    if value is None or value == "" or value == []:
        return t("wizard.value.unset", lang)
    if f.media:
        count = len(value) if isinstance(value, list) else 1
        return t("wizard.value.files", lang, count=count)
    if isinstance(value, bool):
        return t("wizard.value.yes" if value else "wizard.value.no", lang)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def effective_value(f: InputField, values: dict[str, Any]) -> Any:
    """The value a field will be sent with: the user's choice, else its default."""
    return values.get(f.name, f.default)


def clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
