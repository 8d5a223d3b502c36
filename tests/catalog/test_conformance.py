"""The catalog against Kie's own request schemas: what we accept, Kie accepts; what Kie refuses, we refuse.

Data (copied into the repository, never read from elsewhere):
- `tests/data/kie_schemas/<id with / as __>.json`: the `input` object of each Market model's createTask
  request, from Kie's documentation (descriptions stripped).
- `tests/data/kie_family_requests/<shape>.json`: the request body of each family endpoint (Veo, Suno, Runway,
  4o Image, Flux Kontext, Midjourney), written down from API.md and Kie's family pages, with `x-endpoint`.

Checks:
1. every Market model Kie documents is in the catalog, field for field (name, type, enum, default, bounds,
   lengths, item counts, required); each difference is listed in DEVIATIONS with its reason;
2. for every enabled model, defaults plus valid values for each field (every enum value, both bounds, the
   longest string, the most items) pass our validator and then Kie's schema;
3. for every enabled model, an invalid value for each constrained field (out of the enum, too long, out of
   bounds, too many items, wrong type) is rejected by `validate_inputs` with a problem naming the field,
   and Kie's schema refuses it too wherever the constraint is Kie's own;
4. family models: the body the family adapter builds is valid against the family endpoint's shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aistudio.catalog import Catalog, Family, InputField, ModelSpec, load_catalog
from aistudio.catalog.validation import InputValidationError, validate_inputs
from aistudio.kie.families import SUNO_SOUNDS_PATH, adapter_for, is_suno_sounds

DATA = Path(__file__).resolve().parent.parent / "data"
SCHEMAS = DATA / "kie_schemas"
FAMILY_SHAPES = DATA / "kie_family_requests"

CATALOG: Catalog = load_catalog()
URLS = {
    "image": "https://files.example.com/u/photo.png",
    "video": "https://files.example.com/u/clip.mp4",
    "audio": "https://files.example.com/u/voice.mp3",
}
TEXT = "A red bicycle leaning on a brick wall at sunset, soft light"


def _schema_path(model_id: str) -> Path:
    return SCHEMAS / f"{model_id.replace('/', '__')}.json"


def _kie_input(model_id: str) -> dict[str, Any]:
    return json.loads(_schema_path(model_id).read_text(encoding="utf-8"))["input"]


KIE_IDS = sorted(json.loads(p.read_text(encoding="utf-8"))["model"] for p in SCHEMAS.glob("*.json"))
MARKET = [m for m in CATALOG if m.family is Family.MARKET]
FAMILY = [m for m in CATALOG if m.family is not Family.MARKET]
ENABLED_MARKET = [m.id for m in MARKET if m.enabled]

# Kie fields typed `object` with no published properties: the catalog's field types cannot express them.
UNREPRESENTABLE = {
    ("wan/3-0-video", "first_frame_url"),
    ("wan/3-0-video", "last_frame_url"),
    ("wan/3-0-video-prime", "first_frame_url"),
    ("wan/3-0-video-prime", "last_frame_url"),
}

_PRICE_DEFAULT = "default added: the price depends on this field, so the catalog always sends a value"
_REQUIRED_ENUM_DEFAULT = "default added to a required choice so the wizard can skip it"
_MIN_DURATION = "bounds from Kie's field description, which the schema leaves out"
_PROMPT_NEEDED = "prompt required: the catalog offers these as prompt-driven models"

# (model, field, attribute) -> why the catalog differs from Kie's schema. Generic rules, not listed:
# Kie's empty defaults ("", [""], []) are not kept: nothing is sent, and a required field stays required.
DEVIATIONS: dict[tuple[str, str, str], str] = {
    ("gemini-omni-video", "duration", "default"): _PRICE_DEFAULT,
    ("google/gemini-omni-flash-1-1", "duration", "default"): _PRICE_DEFAULT,
    (
        "minimax-h3/reference-to-video",
        "reference_image_urls",
        "max_items",
    ): "images after the fifth cost 4 credits each; taking at most 5 keeps the price exact",
    (
        "minimax-h3/image-to-video",
        "first_frame_url",
        "required",
    ): "Kie needs a first or a last frame; the catalog asks for the first one",
    ("minimax-h3/text-to-video", "aspect_ratio", "default"): _REQUIRED_ENUM_DEFAULT,
    ("pixverse-v6/image-to-video", "image_urls", "max_items"): "'supports up to 2 images' (field description)",
    ("infinitalk/from-audio", "seed", "minimum"): "'valid range is 10000 to 1000000' (field description)",
    ("infinitalk/from-audio", "seed", "maximum"): "'valid range is 10000 to 1000000' (field description)",
    ("wan/3-0-video", "prompt", "required"): _PROMPT_NEEDED,
    ("wan/3-0-video", "duration", "minimum"): _MIN_DURATION,
    ("wan/3-0-video", "duration", "maximum"): _MIN_DURATION,
    ("wan/3-0-video-prime", "prompt", "required"): _PROMPT_NEEDED,
    ("wan/3-0-video-prime", "duration", "minimum"): _MIN_DURATION,
    ("wan/3-0-video-prime", "duration", "maximum"): _MIN_DURATION,
    ("wan/2-5-text-to-video", "duration", "default"): _PRICE_DEFAULT,
    ("wan/2-5-text-to-video", "resolution", "default"): _PRICE_DEFAULT,
    ("wan/2-5-image-to-video", "duration", "default"): _PRICE_DEFAULT,
    ("wan/2-5-image-to-video", "resolution", "default"): _PRICE_DEFAULT,
    ("bytedance/seedance-1.5-pro", "duration", "default"): _PRICE_DEFAULT,
    ("bytedance/seedance-1.5-pro", "duration", "minimum"): _MIN_DURATION,
    ("bytedance/seedance-1.5-pro", "duration", "maximum"): _MIN_DURATION,
    ("bytedance/seedance-2-5", "prompt", "required"): _PROMPT_NEEDED,
    ("bytedance/seedance-2-5", "duration", "minimum"): _MIN_DURATION + " (-1, 'model decides', has no price)",
    ("bytedance/seedance-2-5", "duration", "maximum"): _MIN_DURATION,
    ("bytedance/seedance-2-mini", "prompt", "required"): _PROMPT_NEEDED,
    ("bytedance/seedance-2-mini", "duration", "minimum"): _MIN_DURATION + " (-1 has no price)",
    ("bytedance/seedance-2-mini", "duration", "maximum"): _MIN_DURATION,
    ("bytedance/seedance-2-fast", "prompt", "required"): _PROMPT_NEEDED,
    ("bytedance/seedance-2-fast", "duration", "minimum"): _MIN_DURATION + " (-1 has no price)",
    ("bytedance/seedance-2-fast", "duration", "maximum"): _MIN_DURATION,
    ("bytedance/seedance-2", "prompt", "required"): _PROMPT_NEEDED,
    ("bytedance/seedance-2", "duration", "minimum"): _MIN_DURATION + " (-1 has no price)",
    ("bytedance/seedance-2", "duration", "maximum"): _MIN_DURATION,
    (
        "kling-3.0-omni/text-to-video",
        "customize_multi_shots",
        "default",
    ): "Kie's default (true) needs a non-empty multi_prompt of shot objects the wizard cannot collect",
    ("kling-3.0-omni/transformation", "video_urls", "required"): "'exactly 1 video is required' (description)",
    ("kling/v3-turbo-image-to-video", "duration", "enum"): "'optional duration: 3s - 15s' as whole seconds",
    ("kling/v3-turbo-text-to-video", "duration", "enum"): "'optional duration: 3s - 15s' as whole seconds",
    ("kling-3.0/video", "image_urls", "max_items"): "first and last frame: at most 2 (description)",
    ("kling-3.0/video", "multi_prompt", "default"): "Kie requires the field; [] is sent in single-shot mode",
    (
        "kling-3.0/video",
        "multi_prompt",
        "required",
    ): "sent by default as []; our validator would treat an empty required list as missing",
    ("kling-2.6/image-to-video", "sound", "default"): _PRICE_DEFAULT,
    ("kling-2.6/text-to-video", "sound", "default"): _PRICE_DEFAULT,
    ("grok-imagine-video-1-5-preview", "prompt", "required"): _PROMPT_NEEDED,
    ("grok-imagine/image-to-video", "duration", "enum"): "the durations the price text and UI offer (6-30 s)",
    ("grok-imagine/image-to-video", "duration", "default"): _PRICE_DEFAULT,
    ("grok-imagine/text-to-video", "duration", "default"): _PRICE_DEFAULT,
    ("grok-imagine/text-to-video", "duration", "minimum"): "'(6-30)' (field description)",
    ("grok-imagine/text-to-video", "duration", "maximum"): "'(6-30)' (field description)",
    ("wan/2-7-image-pro", "n", "default"): _PRICE_DEFAULT + " (Kie's implicit default is 4 images)",
    ("wan/2-7-image-pro", "n", "minimum"): "'range is 1-4 when enable_sequential=false' (description)",
    ("wan/2-7-image-pro", "n", "maximum"): "'range is 1-4 when enable_sequential=false' (description)",
    ("wan/2-7-image", "n", "default"): _PRICE_DEFAULT + " (Kie's implicit default is 4 images)",
    ("wan/2-7-image", "n", "minimum"): "'range is 1-4 when enable_sequential=false' (description)",
    ("wan/2-7-image", "n", "maximum"): "'range is 1-4 when enable_sequential=false' (description)",
    ("qwen3/pro-text-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("ideogram/v3-text-to-image", "rendering_speed", "default"): _PRICE_DEFAULT + " (BALANCED, as Kie's v3-edit)",
    ("gpt-image-2-image-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("gpt-image-2-text-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("gpt-image-2-5-sunburst-image-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("gpt-image-2-5-sunburst-text-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("gpt-image-2-5-flare-image-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("gpt-image-2-5-flare-text-to-image", "resolution", "default"): _PRICE_DEFAULT,
    ("grok-imagine/text-to-image", "enable_pro", "default"): _PRICE_DEFAULT,
    ("grok-imagine-image-2-0/text-to-image", "aspect_ratio", "default"): _REQUIRED_ENUM_DEFAULT,
    ("flux-2/flex-text-to-image", "prompt", "min_length"): "'must be between 3-5000 characters' (description)",
    ("flux-2/flex-image-to-image", "prompt", "min_length"): "'must be between 3 and 5000 characters'",
    ("flux-2/pro-text-to-image", "prompt", "min_length"): "'must be between 3 and 5000 characters'",
    ("flux-2/pro-image-to-image", "prompt", "min_length"): "'must be between 3 and 5000 characters'",
    ("flux-2/pro-image-to-image", "input_urls", "min_items"): "'input reference images (1-8 images)'",
    (
        "google/nano-banana-edit",
        "image_size",
        "default",
    ): "legacy twin of aspect_ratio: never sent, so Kie's default cannot override the user's aspect_ratio",
    (
        "google/nano-banana",
        "image_size",
        "default",
    ): "legacy twin of aspect_ratio: never sent, so Kie's default cannot override the user's aspect_ratio",
    (
        "seedream/5-pro-image-to-image",
        "image_urls",
        "max_items",
    ): "each input image after the first costs 0.5 credits; at most 3 keeps the price bound small",
    ("veo-3-1", "image_urls", "max_items"): "1-2 frames or 1-3 references (description)",
}

_ATTRS = {  # our attribute -> Kie's keyword
    "enum": "enum",
    "default": "default",
    "minimum": "minimum",
    "maximum": "maximum",
    "min_length": "minLength",
    "max_length": "maxLength",
    "min_items": "minItems",
    "max_items": "maxItems",
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a == b and type(a) is type(b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


def _empty_default(value: Any) -> bool:
    return value == "" or value == [""] or value == []


# ------------------------------------------------------------------------------------------- coverage


def test_every_documented_market_model_is_in_the_catalog() -> None:
    assert len(KIE_IDS) >= 138
    missing = [model_id for model_id in KIE_IDS if model_id not in CATALOG]
    assert missing == []
    for model_id in KIE_IDS:
        assert CATALOG.get(model_id).family is Family.MARKET, model_id


def test_every_market_model_in_the_catalog_has_kie_s_schema_saved() -> None:
    assert [m.id for m in MARKET if not _schema_path(m.id).exists()] == []


def test_every_deviation_is_still_a_deviation() -> None:
    """A listed deviation that no longer differs from Kie (or names a gone field) must leave the list."""
    stale = []
    for (model_id, name, attr), _reason in DEVIATIONS.items():
        kie = _kie_input(model_id)["properties"].get(name)
        try:
            ours = CATALOG.get(model_id).field(name)
        except KeyError:
            stale.append((model_id, name, attr))
            continue
        if kie is None:
            stale.append((model_id, name, attr))
        elif attr == "required":
            if ours.required == (name in _kie_input(model_id).get("required", [])):
                stale.append((model_id, name, attr))
        elif _same(getattr(ours, attr), kie.get(_ATTRS[attr])):
            stale.append((model_id, name, attr))
    assert stale == []


# ------------------------------------------------------------------------------------ field for field


@pytest.mark.parametrize("model_id", KIE_IDS)
def test_fields_are_kie_s_fields(model_id: str) -> None:
    spec = CATALOG.get(model_id)
    kie = _kie_input(model_id)
    kie_required = set(kie.get("required", []))
    ours = {f.name: f for f in spec.inputs}
    problems: list[str] = []
    extra = set(ours) - set(kie["properties"])
    if extra:
        problems.append(f"fields Kie does not know: {sorted(extra)}")
    for name, prop in kie["properties"].items():
        if (model_id, name) in UNREPRESENTABLE:
            assert prop["type"] == "object", name
            continue
        if name not in ours:
            problems.append(f"{name}: missing")
            continue
        field = ours[name]
        kie_type = prop["type"]
        if kie_type == "number" and prop.get("multipleOf") == 1:
            kie_type = "integer"  # a whole number of seconds
        if field.type != kie_type:
            problems.append(f"{name}: type {field.type} != {kie_type}")
        if field.required != (name in kie_required) and (model_id, name, "required") not in DEVIATIONS:
            problems.append(f"{name}: required {field.required} != {name in kie_required}")
        for attr, keyword in _ATTRS.items():
            mine, theirs = getattr(field, attr), prop.get(keyword)
            if _same(mine, theirs) or (model_id, name, attr) in DEVIATIONS:
                continue
            if attr == "default" and mine is None and _empty_default(theirs):
                continue
            problems.append(f"{name}: {attr} {mine!r} != Kie's {theirs!r}")
    assert problems == []


# ---------------------------------------------------------------------------------------- value making


def _url(field: InputField) -> str:
    return URLS[field.media or "image"]


def _text(field: InputField, length: int | None = None) -> str:
    size = length if length is not None else max(len(TEXT), field.min_length or 0)
    if field.max_length is not None:
        size = min(size, field.max_length)
    return (TEXT * (size // len(TEXT) + 1))[:size]


def _sample(field: InputField) -> Any:
    """One valid value for a field the user must fill."""
    if field.default is not None:
        return field.default
    if field.enum:
        return [field.enum[0]] if field.type == "array" else field.enum[0]
    if field.type == "array":
        return [_url(field)] * max(1, field.min_items or 1)
    if field.media:
        return _url(field)
    if field.type == "boolean":
        return False
    if field.type in ("integer", "number"):
        return field.minimum if field.minimum is not None else 1
    return _text(field)


def _varied(field: InputField) -> bool:
    """Fields a user may set. Hidden ones are sent with their default (covered by the defaults) or not at all."""
    return field.ask != "hidden"


def _base(spec: ModelSpec) -> dict[str, Any]:
    return {f.name: _sample(f) for f in spec.inputs if f.required and f.default is None}


def _valid_values(field: InputField) -> list[Any]:
    if field.type == "boolean":
        return [True, False]
    if field.enum:
        return [[v] for v in field.enum] if field.type == "array" else list(field.enum)
    if field.type in ("integer", "number"):
        values = [v for v in (field.minimum, field.maximum, field.default) if v is not None] or [1]
        if field.minimum is not None and field.maximum is not None:
            values.append((field.minimum + field.maximum) / 2)
        return [int(v) if field.type == "integer" else v for v in values]
    if field.type == "array":
        if not field.media:
            return []  # hidden structured lists: never collected
        counts = {max(1, field.min_items or 1), field.max_items or max(1, field.min_items or 1)}
        return [[_url(field)] * n for n in sorted(counts)]
    if field.media:
        return [_url(field)]
    values = [_text(field)]
    if field.max_length is not None and field.max_length <= 20_000:
        values.append(_text(field, field.max_length))
    return values


def _kie_errors(model_id: str, inputs: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(_kie_input(model_id))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in validator.iter_errors(inputs)]


# ---------------------------------------------------------------------------------------- valid values


@pytest.mark.parametrize("model_id", ENABLED_MARKET)
def test_defaults_and_every_valid_value_pass_our_validator_and_kie_s_schema(model_id: str) -> None:
    spec = CATALOG.get(model_id)
    base = _base(spec)
    inputs = validate_inputs(spec, base)
    assert _kie_errors(model_id, inputs) == [], "defaults"
    checked = 0
    for field in spec.inputs:
        if not _varied(field):
            continue
        for value in _valid_values(field):
            inputs = validate_inputs(spec, {**base, field.name: value})
            assert _kie_errors(model_id, inputs) == [], f"{field.name}={str(value)[:60]}"
            checked += 1
    assert checked >= 1


# -------------------------------------------------------------------------------------- invalid values


def _invalid_values(field: InputField) -> list[tuple[str, Any]]:
    """(constraint, raw value) pairs our validator must refuse."""
    cases: list[tuple[str, Any]] = []
    if field.enum is not None and field.type != "array":
        bad: Any = "definitely-not-an-option"
        if field.type in ("integer", "number"):
            bad = max(v for v in field.enum if not isinstance(v, bool)) + 1000
        if field.type != "boolean":
            cases.append(("enum", bad))
    if field.type == "string":
        if field.max_length is not None:
            cases.append(("maxLength", "x" * (field.max_length + 1)))
        if field.min_length is not None and field.min_length >= 2:
            cases.append(("minLength", "x" * (field.min_length - 1)))
        cases.append(("type", {"not": "a string"}))
    if field.type in ("integer", "number"):
        step = 1 if field.type == "integer" else 0.5
        if field.minimum is not None:
            cases.append(("minimum", field.minimum - step))
        if field.maximum is not None:
            cases.append(("maximum", field.maximum + step))
        cases.append(("type", "not-a-number"))
    if field.type == "integer":
        cases.append(("type", 2.5))
    if field.type == "boolean":
        cases.append(("type", "maybe"))
    if field.type == "array" and field.max_items is not None:
        cases.append(("maxItems", [_url(field)] * (field.max_items + 1)))
    return cases


_KEYWORD_ATTR = {keyword: attr for attr, keyword in _ATTRS.items()}


def _kie_has(model_id: str, name: str, constraint: str) -> bool:
    """Kie's schema has this constraint as it is in the catalog (not one the catalog tightened)."""
    prop = _kie_input(model_id)["properties"].get(name)
    if prop is None:
        return False
    if constraint == "type":
        return True
    return constraint in prop and (model_id, name, _KEYWORD_ATTR[constraint]) not in DEVIATIONS


@pytest.mark.parametrize("model_id", ENABLED_MARKET)
def test_invalid_values_are_rejected_by_our_validator_naming_the_field(model_id: str) -> None:
    spec = CATALOG.get(model_id)
    base = _base(spec)
    good = validate_inputs(spec, base)
    checked = 0
    for field in spec.inputs:
        for constraint, value in _invalid_values(field):
            with pytest.raises(InputValidationError) as caught:
                validate_inputs(spec, {**base, field.name: value})
            assert field.name in caught.value.fields, (field.name, constraint)
            checked += 1
            if _kie_has(model_id, field.name, constraint) and not isinstance(value, dict | float):
                # Kie's own schema refuses the same value: the constraint is Kie's, not ours.
                assert _kie_errors(model_id, {**good, field.name: value}), (field.name, constraint, value)
    assert checked >= 1


# ---------------------------------------------------------------------------------------------- family

SHAPE_OF = {
    "ai-music-api/sounds": "suno_sounds",
    "ai-music-api/generate-lyrics": "suno_lyrics",
    "runway/aleph": "runway_aleph",
}
FAMILY_SHAPE = {
    Family.VEO: "veo",
    Family.SUNO: "suno",
    Family.RUNWAY: "runway",
    Family.GPT4O_IMAGE: "gpt4o_image",
    Family.FLUX_KONTEXT: "flux_kontext",
    Family.MIDJOURNEY: "midjourney",
}
# Family models the adapters in aistudio.kie.families cannot serve yet (the models stay disabled).
ADAPTER_GAPS = {
    "ai-music-api/generate-lyrics": "SunoAdapter sends lyrics to /api/v1/generate with music flags; needs "
    "/api/v1/lyrics and its record endpoint",
    "runway/aleph": "RunwayAdapter only knows /api/v1/runway/generate; Aleph is /api/v1/aleph/generate",
}


def _shape(spec: ModelSpec) -> dict[str, Any]:
    name = SHAPE_OF.get(spec.id, FAMILY_SHAPE[spec.family])
    return json.loads((FAMILY_SHAPES / f"{name}.json").read_text(encoding="utf-8"))


def _body(spec: ModelSpec, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The endpoint and body the family adapter would POST."""
    adapter: Any = adapter_for(spec.family, client=None)  # type: ignore[arg-type]  # request_body needs none
    path = SUNO_SOUNDS_PATH if spec.family is Family.SUNO and is_suno_sounds(spec) else adapter.create_path
    return f"POST {path}", adapter.request_body(spec, inputs, "https://bot.example.com/kie/callback")


def _family_params() -> list[Any]:
    marks = {
        model_id: pytest.mark.xfail(reason=f"adapter change needed: {why}", strict=True)
        for model_id, why in ADAPTER_GAPS.items()
    }
    return [pytest.param(m.id, marks=marks.get(m.id, ())) for m in FAMILY]


def _shape_errors(shape: dict[str, Any], body: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(shape)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:120]}" for e in validator.iter_errors(body)]


def test_family_models_cover_every_family() -> None:
    assert {m.family for m in FAMILY} == set(FAMILY_SHAPE)
    enabled = {m.family for m in FAMILY if m.enabled}
    assert enabled >= {Family.VEO, Family.SUNO, Family.RUNWAY, Family.GPT4O_IMAGE, Family.FLUX_KONTEXT}


@pytest.mark.parametrize("model_id", _family_params())
def test_family_request_matches_the_endpoint_s_documented_shape(model_id: str) -> None:
    spec = CATALOG.get(model_id)
    shape = _shape(spec)
    base = _base(spec)
    endpoint, body = _body(spec, validate_inputs(spec, base))
    assert endpoint == shape["x-endpoint"]
    assert _shape_errors(shape, body) == [], "defaults"
    for field in spec.inputs:
        if not _varied(field):
            continue
        for value in _valid_values(field):
            _, body = _body(spec, validate_inputs(spec, {**base, field.name: value}))
            assert _shape_errors(shape, body) == [], f"{field.name}={str(value)[:60]}"


@pytest.mark.parametrize("model_id", [m.id for m in FAMILY if m.enabled])
def test_family_invalid_values_are_rejected_naming_the_field(model_id: str) -> None:
    spec = CATALOG.get(model_id)
    base = _base(spec)
    for field in spec.inputs:
        for constraint, value in _invalid_values(field):
            with pytest.raises(InputValidationError) as caught:
                validate_inputs(spec, {**base, field.name: value})
            assert field.name in caught.value.fields, (field.name, constraint)
