"""Turning a create request into a catalog model, validated inputs and a price, answering 422 like Kie."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aistudio.catalog.loader import Catalog
from aistudio.catalog.models import Family, ModelSpec
from aistudio.catalog.validation import FieldProblem, InputValidationError, validate_inputs
from aistudio.sandbox.kie.shapes import FamilyApi


class KieAnswer(Exception):
    """An error answer in Kie's envelope: HTTP 200 (unless `http_status`) with `code` and `msg`."""

    def __init__(self, code: int, msg: str, http_status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status


@dataclass(frozen=True)
class Intake:
    spec: ModelSpec | None
    model: str  # what recordInfo reports as `model`
    inputs: dict[str, Any]
    output: str
    cost: Decimal


_PHRASES = {
    "required": "is required",
    "empty": "must not be empty",
    "unknown_field": "is not a supported parameter",
    "not_in_enum": "must be one of: {allowed}",
    "wrong_type": "must be of type {expected}",
    "too_long": "must be at most {limit} characters (got {actual})",
    "too_short": "must be at least {limit} characters",
    "below_min": "must be at least {limit}",
    "above_max": "must be at most {limit}",
    "too_many_items": "accepts at most {limit} items",
    "too_few_items": "needs at least {limit} items",
}


def _describe(problem: FieldProblem, prefix: str) -> str:
    phrase = _PHRASES.get(problem.code, "is invalid ({code})")
    try:
        text = phrase.format(code=problem.code, **problem.params)
    except (KeyError, IndexError):
        text = f"is invalid ({problem.code})"
    return f"{prefix}{problem.field} {text}"


def _validate(spec: ModelSpec, raw: dict[str, Any], prefix: str) -> dict[str, Any]:
    try:
        return validate_inputs(spec, raw)
    except InputValidationError as exc:
        raise KieAnswer(422, "; ".join(_describe(p, prefix) for p in exc.problems)) from None


def _price(spec: ModelSpec, inputs: dict[str, Any]) -> Decimal:
    try:
        return spec.pricing.credits(inputs)
    except (ValueError, ArithmeticError) as exc:
        raise KieAnswer(422, f"unsupported parameter combination: {exc}") from None


def market_intake(catalog: Catalog, body: dict[str, Any]) -> Intake:
    """`POST /api/v1/jobs/createTask` with `{"model", "input", "callBackUrl"}`."""
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise KieAnswer(422, "model is required")
    if model_id not in catalog or catalog.get(model_id).family is not Family.MARKET:
        raise KieAnswer(422, f"The model {model_id} is not supported")
    raw = body.get("input")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise KieAnswer(422, "input must be an object")
    spec = catalog.get(model_id)
    inputs = _validate(spec, raw, "input.")
    return Intake(spec, model_id, inputs, spec.output, _price(spec, inputs))


def _family_spec(
    catalog: Catalog, api: FamilyApi, body: dict[str, Any], accepts: Callable[[ModelSpec], bool]
) -> ModelSpec | None:
    candidates = [m for m in catalog if m.family is api.family and accepts(m)]
    if not candidates:
        return None
    variant = body.get(api.variant_key) if api.variant_key == "model" else None
    if variant is None:
        return candidates[0]  # no variant named: the family's first model by display order
    for spec in candidates:
        if variant in (spec.id, spec.id.rsplit("/", 1)[-1]) or variant in _variants(spec):
            return spec
    raise KieAnswer(422, f"model {variant} is not supported")


def _variants(spec: ModelSpec) -> list[Any]:
    """Variants a catalog model offers through its own `model` input (enum, or just the default)."""
    try:
        field = spec.field("model")
    except KeyError:
        return []
    return list(field.enum or []) + ([field.default] if field.default is not None else [])


def family_intake(
    catalog: Catalog,
    api: FamilyApi,
    body: dict[str, Any],
    default_cost: Decimal,
    accepts: Callable[[ModelSpec], bool] = lambda spec: True,
) -> Intake:
    """A family `generate` request: top-level fields are the inputs, plus `callBackUrl` and a variant.

    `accepts` narrows the catalog models an endpoint serves (Suno music vs Suno sounds).
    """
    spec = _family_spec(catalog, api, body, accepts)
    if spec is None:
        # Not in our catalog (yet): accept like Kie would, needing only a prompt.
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise KieAnswer(422, "prompt is required")
        inputs = {k: v for k, v in body.items() if k != "callBackUrl"}
        model = str(body.get(api.variant_key) or api.family.value) if api.variant_key else api.family.value
        return Intake(None, model, inputs, api.output, default_cost)
    declared = {f.name for f in spec.inputs}
    raw = {k: v for k, v in body.items() if k in declared or k not in api.extra_keys}
    inputs = _validate(spec, raw, "")
    return Intake(spec, spec.id, inputs, spec.output, _price(spec, inputs))
