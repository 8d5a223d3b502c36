"""One catalog model per Kie API family, built here so the tests do not depend on the shipped catalog."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aistudio.catalog.models import Category, Family, InputField, Localized, ModelSpec, PricingRule


def _text(en: str) -> Localized:
    return Localized(ru=en, en=en)


def _field(name: str, type_: str = "string", **extra: Any) -> InputField:
    return InputField(name=name, type=type_, label=_text(name), **extra)  # type: ignore[arg-type]


def _spec(
    model_id: str,
    family: Family,
    category: Category,
    output: str,
    credits: int | PricingRule,
    inputs: list[InputField],
) -> ModelSpec:
    return ModelSpec(
        id=model_id,
        family=family,
        category=category,
        name=_text(model_id),
        description=_text(f"test model of the {family.value} family"),
        output=output,  # type: ignore[arg-type]
        inputs=inputs,
        pricing=credits if isinstance(credits, PricingRule) else PricingRule(base=credits),
    )


PROMPT = _field("prompt", required=True, max_length=500)

VEO = _spec(
    "test/veo3_fast",
    Family.VEO,
    Category.TEXT_TO_VIDEO,
    "video",
    # Like the shipped Veo entry: the variant is an input, and the price depends on it.
    PricingRule(by=["model"], table={"veo3_fast": Decimal(60), "veo3": Decimal(250)}),
    [
        PROMPT,
        _field("model", enum=["veo3_fast", "veo3"], default="veo3_fast"),
        _field("aspectRatio", enum=["16:9", "9:16"], default="16:9"),
    ],
)
SUNO = _spec(
    "test/V4_5",
    Family.SUNO,
    Category.MUSIC,
    "audio",
    12,
    [
        PROMPT,
        _field("instrumental", "boolean", default=False),
    ],
)
SUNO_SOUNDS = _spec(
    "test/sounds",
    Family.SUNO,
    Category.SOUND,
    "audio",
    3,
    [PROMPT, _field("model", enum=["V5"], default="V5"), _field("soundTempo", "number", minimum=1, maximum=300)],
)
RUNWAY = _spec(
    "test/runway-gen3",
    Family.RUNWAY,
    Category.TEXT_TO_VIDEO,
    "video",
    12,
    [
        PROMPT,
        _field("duration", "integer", enum=[5, 10], default=5),
        _field("quality", enum=["720p", "1080p"], default="720p"),
        _field("aspectRatio", enum=["16:9", "9:16", "1:1"], default="16:9"),
    ],
)
GPT4O = _spec(
    "test/gpt4o-image",
    Family.GPT4O_IMAGE,
    Category.TEXT_TO_IMAGE,
    "image",
    6,
    [
        PROMPT,
        _field("size", enum=["1:1", "3:2", "2:3"], default="1:1"),
    ],
)
FLUX = _spec(
    "test/flux-kontext-pro",
    Family.FLUX_KONTEXT,
    Category.TEXT_TO_IMAGE,
    "image",
    5,
    [
        PROMPT,
        _field("aspectRatio", enum=["16:9", "1:1"], default="16:9"),
        _field("outputFormat", enum=["jpeg", "png"], default="jpeg"),
    ],
)
MIDJOURNEY = _spec(
    "test/mj-v7",
    Family.MIDJOURNEY,
    Category.TEXT_TO_IMAGE,
    "image",
    8,
    [
        PROMPT,
        _field("aspectRatio", enum=["1:1", "16:9"], default="1:1"),
    ],
)


def family_specs() -> list[ModelSpec]:
    return [VEO, SUNO, SUNO_SOUNDS, RUNWAY, GPT4O, FLUX, MIDJOURNEY]
