"""Check user inputs against a model's field specs before any money moves."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.i18n import Translator, translator


@dataclass(frozen=True)
class FieldProblem:
    field: str
    code: str  # a key under `validation.` in the locale files
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, spec: ModelSpec | None, lang: str, t: Translator | None = None) -> str:
        t = t or translator()
        label = self.field
        if spec is not None:
            with contextlib.suppress(KeyError):
                label = spec.field(self.field).label.get(lang)
        params = dict(self.params)
        if "expected" in params:
            params["expected"] = t(f"validation.types.{params['expected']}", lang)
        return t(f"validation.{self.code}", lang, label=label, **params)


class InputValidationError(ValueError):
    """Every problem with a set of inputs, each naming its field."""

    def __init__(self, spec: ModelSpec, problems: list[FieldProblem]) -> None:
        self.spec = spec
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.code}" for p in problems))

    def messages(self, lang: str) -> list[str]:
        return [p.message(self.spec, lang) for p in self.problems]

    @property
    def fields(self) -> list[str]:
        return [p.field for p in self.problems]


def coerce_value(spec_field: InputField, value: Any) -> Any:
    """Turn what a user typed (always text in chat) into the field's type; raise ValueError if it can't."""
    if spec_field.type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "да", "on"):
            return True
        if text in ("false", "0", "no", "нет", "off"):
            return False
        raise ValueError("not a boolean")
    if spec_field.type == "integer":
        if isinstance(value, bool):
            raise ValueError("not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(str(value).strip())
    if spec_field.type == "number":
        if isinstance(value, bool):
            raise ValueError("not a number")
        if isinstance(value, int | float):
            return value
        number = float(str(value).strip().replace(",", "."))
        return int(number) if number.is_integer() else number
    if spec_field.type == "array":
        if isinstance(value, list | tuple):
            return list(value)
        return [value]
    if isinstance(value, str):
        return value
    if isinstance(value, bool | dict | list):
        raise ValueError("not a string")
    return str(value)


def _enum_match(spec_field: InputField, value: Any) -> Any:
    assert spec_field.enum is not None
    if value in spec_field.enum:
        return value
    # Tolerate "16:9 " or "PNG" typed by hand, and numbers sent as text.
    wanted = str(value).strip().lower()
    for option in spec_field.enum:
        if str(option).lower() == wanted:
            return option
    raise LookupError


def _check_field(f: InputField, value: Any) -> tuple[Any, FieldProblem | None]:
    try:
        value = coerce_value(f, value)
    except (ValueError, TypeError):
        return value, FieldProblem(f.name, "wrong_type", {"expected": f.type})
    if f.enum is not None and f.type != "array":
        try:
            value = _enum_match(f, value)
        except LookupError:
            allowed = ", ".join(str(v) for v in f.enum)
            return value, FieldProblem(f.name, "not_in_enum", {"allowed": allowed})
    if f.type == "string":
        if f.required and not value.strip():
            return value, FieldProblem(f.name, "empty")
        if f.max_length is not None and len(value) > f.max_length:
            return value, FieldProblem(f.name, "too_long", {"limit": f.max_length, "actual": len(value)})
        if f.min_length is not None and len(value) < f.min_length:
            return value, FieldProblem(f.name, "too_short", {"limit": f.min_length})
    if f.type in ("integer", "number"):
        if f.minimum is not None and value < f.minimum:
            return value, FieldProblem(f.name, "below_min", {"limit": _fmt(f.minimum)})
        if f.maximum is not None and value > f.maximum:
            return value, FieldProblem(f.name, "above_max", {"limit": _fmt(f.maximum)})
    if f.type == "array":
        if f.max_items is not None and len(value) > f.max_items:
            return value, FieldProblem(f.name, "too_many_items", {"limit": f.max_items})
        if f.min_items is not None and len(value) < f.min_items:
            return value, FieldProblem(f.name, "too_few_items", {"limit": f.min_items})
        if f.required and not value:
            return value, FieldProblem(f.name, "required")
        if f.enum is not None:
            bad = [v for v in value if v not in f.enum]
            if bad:
                allowed = ", ".join(str(v) for v in f.enum)
                return value, FieldProblem(f.name, "not_in_enum", {"allowed": allowed})
    return value, None


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def validate_inputs(spec: ModelSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Return complete inputs (defaults applied, values coerced) or raise `InputValidationError`."""
    problems: list[FieldProblem] = []
    known = {f.name for f in spec.inputs}
    for name in raw:
        if name not in known:
            problems.append(FieldProblem(name, "unknown_field"))
    result: dict[str, Any] = {}
    for f in spec.inputs:
        value = raw.get(f.name)
        if value is None or value == "":
            if f.default is not None:
                result[f.name] = f.default
            elif f.required:
                problems.append(FieldProblem(f.name, "required"))
            continue
        checked, problem = _check_field(f, value)
        if problem:
            problems.append(problem)
        else:
            result[f.name] = checked
    if problems:
        raise InputValidationError(spec, problems)
    return result
