"""The shipped model catalog: it loads, covers every category, and its prices match Kie's price texts.

Expected credits are the numbers stated in Kie's price text for each model (1 credit = $0.005); the
text is quoted next to each group of cases so a reviewer can check them without leaving this file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from aistudio.catalog import Catalog, Category, InputField, ModelSpec, load_catalog
from aistudio.catalog.report import verify_report
from aistudio.catalog.validation import validate_inputs
from aistudio.pricing.free_tier import derive_free_models
from aistudio.pricing.price import kopecks_for_credits

CATALOG: Catalog = load_catalog()

SEED_FREE_MODELS = [
    "z-image",
    "recraft/remove-background",
    "infinitalk/from-audio",
    "grok-imagine/text-to-image",
    "google/nano-banana",
]

PROMPT = "A red bicycle leaning on a brick wall at sunset, soft light"
PHOTO = "https://files.example.com/uploads/photo.jpg"
CLIP = "https://files.example.com/uploads/clip.mp4"
VOICE = "https://files.example.com/uploads/voice.mp3"
SAMPLE_URLS = {"image": PHOTO, "video": CLIP, "audio": VOICE}

ENABLED_IDS = [m.id for m in CATALOG if m.enabled]


def _model(model_id: str) -> ModelSpec:
    return CATALOG.get(model_id)


def _credits(model_id: str, inputs: dict[str, Any]) -> Decimal:
    model = _model(model_id)
    return model.pricing.credits(validate_inputs(model, inputs))


# --------------------------------------------------------------------------------------------- coverage


def test_shipped_catalog_has_at_least_42_enabled_visible_models() -> None:
    assert len(CATALOG.visible()) >= 42


@pytest.mark.parametrize("category", list(Category), ids=lambda c: c.value)
def test_every_category_offers_an_enabled_visible_model(category: Category) -> None:
    models = CATALOG.by_category(category)
    assert models, f"no enabled, visible model in {category.value}"
    assert all(m.enabled and not m.hidden for m in models)


@pytest.mark.parametrize("model_id", SEED_FREE_MODELS)
def test_seed_free_models_are_shipped_enabled_and_visible(model_id: str) -> None:
    model = _model(model_id)
    assert model.enabled
    assert model.is_free_candidate
    assert model in CATALOG.visible()


def test_helper_models_are_hidden_from_menus() -> None:
    helper = _model("omnihuman-1-5/subject-detection")
    assert helper.hidden
    assert helper not in CATALOG.visible()
    assert CATALOG.search("subject detection") == []


def test_disabled_models_say_why() -> None:
    disabled = [m for m in CATALOG if not m.enabled]
    assert {m.id for m in disabled} >= {"veo-3-1", "omnihuman-1-5"}
    for model in disabled:
        assert model.disabled_reason and len(model.disabled_reason) > 10


# --------------------------------------------------------------------------------- every enabled model


@pytest.mark.parametrize("model_id", ENABLED_IDS)
def test_enabled_model_has_a_positive_price_on_its_defaults(model_id: str) -> None:
    model = _model(model_id)
    assert CATALOG.default_credits(model) > 0


def _sample(field: InputField) -> Any:
    if field.default is not None:
        return field.default
    if field.media:
        url = SAMPLE_URLS[field.media]
        return [url] if field.type == "array" else url
    if field.enum:
        return field.enum[0]
    if field.type == "string":
        return PROMPT[: field.max_length] if field.max_length else PROMPT
    if field.type == "boolean":
        return False
    if field.type in ("integer", "number"):
        return field.minimum if field.minimum is not None else 1
    return ["item"]


@pytest.mark.parametrize("model_id", ENABLED_IDS)
def test_enabled_model_accepts_its_defaults_plus_a_sample_for_each_required_field(model_id: str) -> None:
    model = _model(model_id)
    raw = {f.name: _sample(f) for f in model.inputs if f.required}
    inputs = validate_inputs(model, raw)
    assert set(raw) <= set(inputs)
    assert model.pricing.credits(inputs) > 0


@pytest.mark.parametrize("model_id", [m.id for m in CATALOG])
def test_every_wizard_field_has_short_labels_in_both_languages(model_id: str) -> None:
    for field in _model(model_id).inputs:
        if field.ask != "wizard":
            continue
        assert field.label.ru.strip() and field.label.en.strip(), field.name
        assert len(field.label.ru) <= 30 and len(field.label.en) <= 30, field.name


# URL fields that are not uploads: Wan 3.0's document reference and web page link (never collected).
NOT_UPLOADS = {"reference_file_urls", "reference_link_urls"}


@pytest.mark.parametrize("model_id", [m.id for m in CATALOG])
def test_every_upload_field_declares_its_media_kind(model_id: str) -> None:
    for field in _model(model_id).inputs:
        looks_like_upload = field.name in ("image", "image_input") or field.name.lower().endswith(
            ("_url", "_urls", "imageurls")
        )
        if looks_like_upload and field.name not in NOT_UPLOADS:
            assert field.media in ("image", "video", "audio"), field.name


@pytest.mark.parametrize("model_id", ENABLED_IDS)
def test_every_enabled_model_asks_for_a_prompt_or_an_upload(model_id: str) -> None:
    wizard = [f for f in _model(model_id).inputs if f.ask == "wizard"]
    assert any(f.media or f.name in ("prompt", "text") for f in wizard)


# ------------------------------------------------------------------------------ prices vs Kie price texts

PRICE_CASES = [
    # z-image: "flat 0.8 Kie credits per image"
    ("z-image", {"prompt": PROMPT}, "0.8"),
    # google/nano-banana, nano-banana-edit: "4 credits per image"
    ("google/nano-banana", {"prompt": PROMPT, "aspect_ratio": "16:9"}, "4"),
    ("google/nano-banana-edit", {"prompt": PROMPT, "image_urls": [PHOTO, PHOTO]}, "4"),
    # grok-imagine/text-to-image: "Standard: 4 credits per generation; Quality: 5 credits per generation"
    ("grok-imagine/text-to-image", {"prompt": PROMPT}, "4"),
    ("grok-imagine/text-to-image", {"prompt": PROMPT, "enable_pro": True}, "5"),
    # nano-banana-pro: "18 credits for 1K/2K and 24 credits for 4K"
    ("nano-banana-pro", {"prompt": PROMPT}, "18"),
    ("nano-banana-pro", {"prompt": PROMPT, "resolution": "2K"}, "18"),
    ("nano-banana-pro", {"prompt": PROMPT, "resolution": "4K", "image_input": [PHOTO]}, "24"),
    # nano-banana-2: "8 credits for 1 K, 12 credits for 2 K, and 18 credits for 4 K"
    ("nano-banana-2", {"prompt": PROMPT, "resolution": "1K"}, "8"),
    ("nano-banana-2", {"prompt": PROMPT, "resolution": "2K"}, "12"),
    ("nano-banana-2", {"prompt": PROMPT, "resolution": "4K"}, "18"),
    # flux-2 pro: "5 credits for 1K or 7 credits for 2K—upload up to 8 reference images at no extra cost"
    ("flux-2/pro-text-to-image", {"prompt": PROMPT}, "5"),
    ("flux-2/pro-text-to-image", {"prompt": PROMPT, "resolution": "2K"}, "7"),
    ("flux-2/pro-image-to-image", {"prompt": PROMPT, "input_urls": [PHOTO] * 8, "resolution": "2K"}, "7"),
    # seedream 4.5: "6.5 credits per image"
    ("seedream/4.5-text-to-image", {"prompt": PROMPT, "quality": "high"}, "6.5"),
    ("seedream/4.5-edit", {"prompt": PROMPT, "image_urls": [PHOTO]}, "6.5"),
    # seedream v4: "5 credits per image ... solely determined by the final number of images returned"
    ("bytedance/seedream-v4-text-to-image", {"prompt": PROMPT}, "5"),
    ("bytedance/seedream-v4-edit", {"prompt": PROMPT, "image_urls": [PHOTO], "max_images": 3}, "15"),
    # imagen 4: "8 credits per image"; ultra: "12 credits per image"
    ("google/imagen4", {"prompt": PROMPT}, "8"),
    ("google/imagen4-ultra", {"prompt": PROMPT}, "12"),
    # ideogram v3: "3.5 credits for Turbo, 7 credits for Balanced, or 10 credits for Quality per image"
    ("ideogram/v3-text-to-image", {"prompt": PROMPT, "rendering_speed": "TURBO"}, "3.5"),
    ("ideogram/v3-text-to-image", {"prompt": PROMPT}, "7"),
    ("ideogram/v3-text-to-image", {"prompt": PROMPT, "rendering_speed": "QUALITY"}, "10"),
    # gpt image 2: "6 credits for 1 K, 10 credits for 2 K, and 16 credits for 4 K"
    ("gpt-image-2-text-to-image", {"prompt": PROMPT}, "6"),
    ("gpt-image-2-text-to-image", {"prompt": PROMPT, "resolution": "2K"}, "10"),
    ("gpt-image-2-image-to-image", {"prompt": PROMPT, "input_urls": [PHOTO], "resolution": "4K"}, "16"),
    # gpt image 1.5: "medium quality 4 credits per image, high quality 22 credits per image"
    ("gpt-image/1.5-image-to-image", {"prompt": PROMPT, "input_urls": [PHOTO]}, "4"),
    ("gpt-image/1.5-image-to-image", {"prompt": PROMPT, "input_urls": [PHOTO], "quality": "high"}, "22"),
    # qwen: "4.8 credits per image for 1K/2K output"; qwen image-to-image: "4 credits per image"
    ("qwen3/text-to-image", {"prompt": PROMPT, "resolution": "2K"}, "4.8"),
    ("qwen/image-to-image", {"prompt": PROMPT, "image_url": PHOTO}, "4"),
    # recraft: "1 credit per output image"; crisp upscale: "0.5 credits per upscale"
    ("recraft/remove-background", {"image": PHOTO}, "1"),
    ("recraft/crisp-upscale", {"image": PHOTO}, "0.5"),
    # kling 2.6: "5 s no-audio 55 credits / 10 s no-audio 110 credits; with audio—5 s 110 credits or 10 s 220"
    ("kling-2.6/text-to-video", {"prompt": PROMPT, "sound": False, "duration": "5"}, "55"),
    ("kling-2.6/text-to-video", {"prompt": PROMPT, "sound": False, "duration": "10"}, "110"),
    ("kling-2.6/text-to-video", {"prompt": PROMPT, "sound": True, "duration": "5"}, "110"),
    (
        "kling-2.6/image-to-video",
        {"prompt": PROMPT, "image_urls": [PHOTO], "sound": True, "duration": "10"},
        "220",
    ),
    # kling 3.0: "Standard: no-audio 14 /s; with audio 20 /s; Pro: no-audio 18 /s; with audio 27 /s; 4K 67 /s"
    ("kling-3.0/video", {"prompt": PROMPT, "mode": "std", "sound": False, "duration": "5"}, "70"),
    ("kling-3.0/video", {"prompt": PROMPT, "mode": "std", "sound": True, "duration": "10"}, "200"),
    ("kling-3.0/video", {"prompt": PROMPT, "mode": "pro", "sound": True, "duration": "15"}, "405"),
    ("kling-3.0/video", {"prompt": PROMPT, "mode": "4K", "sound": True, "duration": "5"}, "335"),
    # kling v3 turbo: "720P: 18 credits/s, 1080P: 22.5 credits/s"
    ("kling/v3-turbo-text-to-video", {"prompt": PROMPT, "duration": "5"}, "90"),
    (
        "kling/v3-turbo-image-to-video",
        {"prompt": PROMPT, "image_urls": [PHOTO], "resolution": "1080p", "duration": "10"},
        "225",
    ),
    # kling 2.5 turbo pro: "42 credits per 5-second video and 84 credits per 10-second video"
    ("kling/v2-5-turbo-text-to-video-pro", {"prompt": PROMPT, "duration": "10"}, "84"),
    # kling 2.1: standard "5-second 25 credits, 10-second 50"; pro "50 / 100"; master "160 / 320"
    ("kling/v2-1-standard", {"prompt": PROMPT, "image_url": PHOTO}, "25"),
    ("kling/v2-1-pro", {"prompt": PROMPT, "image_url": PHOTO, "duration": "10"}, "100"),
    ("kling/v2-1-master-text-to-video", {"prompt": PROMPT, "duration": "10"}, "320"),
    # hailuo 02 standard: "5 credits per second at 768 p and 2 credits per second at 512 p"
    ("hailuo/02-text-to-video-standard", {"prompt": PROMPT, "duration": "6"}, "30"),
    ("hailuo/02-text-to-video-standard", {"prompt": PROMPT, "duration": "10"}, "50"),
    ("hailuo/02-image-to-video-standard", {"prompt": PROMPT, "image_url": PHOTO, "resolution": "512P"}, "20"),
    # hailuo 02 pro: "9.5 credits per second. One generation yields a 6-second 1080p video"
    ("hailuo/02-text-to-video-pro", {"prompt": PROMPT}, "57"),
    ("hailuo/02-image-to-video-pro", {"prompt": PROMPT, "image_url": PHOTO}, "57"),
    # hailuo 2.3: "Standard 6s 768P 30, Standard 10s 768P 50, Standard 6s 1080P 50,
    #              Pro 6s 768P 45, Pro 10s 768P 90, Pro 6s 1080P 80"
    ("hailuo/2-3-image-to-video-standard", {"prompt": PROMPT, "image_url": PHOTO}, "30"),
    ("hailuo/2-3-image-to-video-standard", {"prompt": PROMPT, "image_url": PHOTO, "duration": "10"}, "50"),
    (
        "hailuo/2-3-image-to-video-standard",
        {"prompt": PROMPT, "image_url": PHOTO, "resolution": "1080P"},
        "50",
    ),
    ("hailuo/2-3-image-to-video-pro", {"prompt": PROMPT, "image_url": PHOTO}, "45"),
    ("hailuo/2-3-image-to-video-pro", {"prompt": PROMPT, "image_url": PHOTO, "duration": "10"}, "90"),
    ("hailuo/2-3-image-to-video-pro", {"prompt": PROMPT, "image_url": PHOTO, "resolution": "1080P"}, "80"),
    # wan 2.6: "70 / 140 / 209.5 credits for 5 / 10 / 15 s at 720 p and 104.5 / 209.5 / 315 at 1080 p"
    ("wan/2-6-text-to-video", {"prompt": PROMPT, "duration": "5", "resolution": "720p"}, "70"),
    ("wan/2-6-text-to-video", {"prompt": PROMPT, "duration": "15", "resolution": "720p"}, "209.5"),
    ("wan/2-6-text-to-video", {"prompt": PROMPT, "duration": "15", "resolution": "1080p"}, "315"),
    ("wan/2-6-image-to-video", {"prompt": PROMPT, "image_urls": [PHOTO]}, "104.5"),
    (
        "wan/2-6-video-to-video",
        {"prompt": PROMPT, "video_urls": [CLIP], "duration": "10", "resolution": "720p"},
        "140",
    ),
    # wan 2.5: "12 credits per second for 720p and 20 credits per second for 1080p"
    ("wan/2-5-text-to-video", {"prompt": PROMPT, "duration": "5"}, "60"),
    (
        "wan/2-5-image-to-video",
        {"prompt": PROMPT, "image_url": PHOTO, "duration": "10", "resolution": "1080p"},
        "200",
    ),
    # wan 2.7: "16 credits per second for 720p and 24 credits per second for 1080p"
    ("wan/2-7-text-to-video", {"prompt": PROMPT, "duration": 15, "resolution": "720p"}, "240"),
    ("wan/2-7-r2v", {"prompt": PROMPT, "reference_video": [CLIP], "duration": 10}, "240"),
    # seedance 1.5 pro: "480p: 1.75 credits/s no audio, 3.5 with audio; 720p: 3.5 / 7; 1080p: 7.5 / 15"
    ("bytedance/seedance-1.5-pro", {"prompt": PROMPT, "resolution": "480p", "duration": 4}, "7"),
    ("bytedance/seedance-1.5-pro", {"prompt": PROMPT, "duration": 8, "generate_audio": True}, "56"),
    (
        "bytedance/seedance-1.5-pro",
        {
            "prompt": PROMPT,
            "input_urls": [PHOTO],
            "resolution": "1080p",
            "duration": 12,
            "generate_audio": True,
        },
        "180",
    ),
    # seedance 2.0 (no video input): "480P 19 credits/s, 720P 41, 1080P 102, 4K 208"
    ("bytedance/seedance-2", {"prompt": PROMPT}, "205"),
    ("bytedance/seedance-2", {"prompt": PROMPT, "resolution": "1080p", "duration": 10}, "1020"),
    ("bytedance/seedance-2", {"prompt": PROMPT, "resolution": "4k", "duration": 4}, "832"),
    # seedance v1 pro: "2.8 credits at 480p, 6 credits at 720p, and 14 credits at 1080p" per second
    ("bytedance/v1-pro-text-to-video", {"prompt": PROMPT, "resolution": "480p"}, "14"),
    (
        "bytedance/v1-pro-image-to-video",
        {"prompt": PROMPT, "image_url": PHOTO, "resolution": "1080p", "duration": "10"},
        "140",
    ),
    # seedance v1 pro fast: "720P — 16 credits for 5s / 36 credits for 10s; 1080P — 36 / 72"
    ("bytedance/v1-pro-fast-image-to-video", {"prompt": PROMPT, "image_url": PHOTO, "duration": "10"}, "36"),
    (
        "bytedance/v1-pro-fast-image-to-video",
        {"prompt": PROMPT, "image_url": PHOTO, "resolution": "1080p", "duration": "10"},
        "72",
    ),
    # grok imagine video: "480p 2.4 credits / sec, 720p 4.5 credits / sec, 1080p 8 credits / sec"
    ("grok-imagine/text-to-video", {"prompt": PROMPT, "resolution": "720p", "duration": 10}, "45"),
    ("grok-imagine/image-to-video", {"image_urls": [PHOTO], "resolution": "1080p", "duration": "30"}, "240"),
    # veo 3.1 (family API, 720p): "Fast mode 720P — 60 credits per video; Quality mode 720P — 250 credits"
    ("veo/generate", {"prompt": PROMPT}, "60"),
    ("veo/generate", {"prompt": PROMPT, "model": "veo3"}, "250"),
    # elevenlabs: multilingual "12 credits per 1,000 characters"; turbo "6 credits per 1,000 characters"
    ("elevenlabs/text-to-speech-multilingual-v2", {"text": "x" * 1000}, "12"),
    ("elevenlabs/text-to-speech-multilingual-v2", {"text": "x" * 1001}, "24"),
    ("elevenlabs/text-to-speech-turbo-2-5", {"text": "Привет"}, "6"),
    ("elevenlabs/text-to-speech-turbo-2-5", {"text": "x" * 5000}, "30"),
    # suno: "Generate Music costs 12 credits per request"; "Generate sounds costs 2.5 credits per request"
    ("ai-music-api/generate", {"prompt": PROMPT, "instrumental": True}, "12"),
    ("ai-music-api/sounds", {"prompt": "Rain on a tin roof"}, "2.5"),
    # veo 3.1 lite (family API, 720p): "Lite mode ... 720P — 30 credits per video"
    ("veo/generate", {"prompt": PROMPT, "model": "veo3_lite"}, "30"),
    # runway: "5s at 720p costs 12 credits, while 10s at 720p or 5s at 1080p cost 30 credits per video"
    ("runway", {"prompt": PROMPT}, "12"),
    ("runway", {"prompt": PROMPT, "duration": 10}, "30"),
    ("runway", {"prompt": PROMPT, "quality": "1080p"}, "30"),
    # 4o image: "6 credits per image" (nVariants images per request)
    ("4o-image-api", {"prompt": PROMPT}, "6"),
    ("4o-image-api", {"prompt": PROMPT, "nVariants": 4}, "24"),
    # flux kontext: "Pro mode at 5 credits per image and Max mode at 10 credits per image"
    ("flux-kontext-pro", {"prompt": PROMPT}, "5"),
    ("flux-kontext-max", {"prompt": PROMPT}, "10"),
    # gemini omni: "720P/1080P: 4s 63 ... 10s 126; 4K: 4s 147 ... 10s 210" (no video input)
    ("gemini-omni-video", {"prompt": PROMPT}, "63"),
    ("gemini-omni-video", {"prompt": PROMPT, "duration": "10", "resolution": "4k"}, "210"),
    ("google/gemini-omni-flash-1-1", {"prompt": PROMPT, "duration": "8", "resolution": "360p"}, "105"),
    # pixverse v6: "720P: 7.2 credits/s no audio | 9.6 credits/s with audio; 1080P: 14.4 | 18.4"
    ("pixverse-v6/text-to-video", {"prompt": PROMPT}, "36"),
    ("pixverse-v6/text-to-video", {"prompt": PROMPT, "quality": "1080p", "generate_audio_switch": True}, "92"),
    # seedance 2.5 (no video input): "480P 28 credits/s, 720P 63, 1080P 158"
    ("bytedance/seedance-2-5", {"prompt": PROMPT}, "315"),
    ("bytedance/seedance-2-mini", {"prompt": PROMPT, "resolution": "480p", "duration": 10}, "38"),
    # kling 3.0 omni: "720P 14 credits/s no audio | 18 with audio; 4K 67"
    ("kling-3.0-omni/text-to-video", {"prompt": PROMPT, "audio": True}, "90"),
    ("kling-3.0-omni/text-to-video", {"prompt": PROMPT, "resolution": "4k", "duration": 3}, "201"),
    # wan 2.7 video edit: "16 credits per second for 720p, 24 for 1080p"; duration 0 = the whole clip (≤ 10 s)
    ("wan/2-7-videoedit", {"prompt": PROMPT, "video_url": CLIP}, "240"),
    ("wan/2-7-videoedit", {"prompt": PROMPT, "video_url": CLIP, "duration": 4, "resolution": "720p"}, "64"),
    # wan 2.7 image: "WAN-2.7 Image Pro costs 12 credits per image, while WAN-2.7 Image costs 4.8"
    ("wan/2-7-image", {"prompt": PROMPT, "n": 3}, "14.4"),
    ("wan/2-7-image-pro", {"prompt": PROMPT}, "12"),
    # qwen3 edit: "4.8 credits per image ... input images are charged at 0.5 credits per image" (≤ 3 inputs)
    ("qwen3/image-to-image", {"prompt": PROMPT, "image_urls": [PHOTO]}, "6.3"),
    # ideogram character: "12 credits Turbo, 18 Balanced, 24 Quality" per requested image
    ("ideogram/character", {"prompt": PROMPT, "reference_image_urls": [PHOTO], "num_images": "2"}, "36"),
    # seedream 5 pro: "1K: 7 credits per image, 2K: 14"; edit adds 0.5 per input after the first (≤ 3 inputs)
    ("seedream/5-pro-text-to-image", {"prompt": PROMPT, "quality": "high"}, "14"),
    ("seedream/5-pro-image-to-image", {"prompt": PROMPT, "image_urls": [PHOTO]}, "8"),
    # happyhorse 1.1: "22.5 credits/s for 720 p or 29 credits/s for 1080 p"
    ("happyhorse-1-1/text-to-video", {"prompt": PROMPT}, "145"),
    # minimax h3: "768P: 8 credits/s; 2K: 13 credits/s"
    ("minimax-h3/text-to-video", {"prompt": PROMPT, "resolution": "768P"}, "48"),
    # wan 2.2 speech-to-video: "720 p 24 credits/s" × 80 frames / 16 fps = 5 s
    ("wan/2-2-a14b-speech-to-video-turbo", {"prompt": PROMPT, "image_url": PHOTO, "audio_url": VOICE}, "60"),
    # infinitalk: "3 credits/s for 480P, 12 credits/s for 720P, up to 15 seconds per generation"
    # (charged for the full 15 s: the catalog cannot read the audio length yet)
    ("infinitalk/from-audio", {"prompt": PROMPT, "image_url": PHOTO, "audio_url": VOICE}, "45"),
    (
        "infinitalk/from-audio",
        {"prompt": PROMPT, "image_url": PHOTO, "audio_url": VOICE, "resolution": "720p"},
        "180",
    ),
    # kling avatar: "8 credits/s for 720P (Standard), 16 credits/s for 1080P (Pro), up to 15 seconds"
    ("kling/ai-avatar-standard", {"prompt": PROMPT, "image_url": PHOTO, "audio_url": VOICE}, "120"),
    ("kling/ai-avatar-pro", {"prompt": PROMPT, "image_url": PHOTO, "audio_url": VOICE}, "240"),
]


def _case_id(model_id: str, inputs: dict[str, Any]) -> str:
    """`kling-2.6/text-to-video[sound=True,duration=5]`: the priced options, not prompts or uploads."""
    options = [
        f"{name}={value}" for name, value in inputs.items() if name not in ("prompt", "text") and not _is_upload(value)
    ]
    if "text" in inputs:
        options.append(f"{len(inputs['text'])} chars")
    return f"{model_id}[{','.join(options)}]"


def _is_upload(value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return all(isinstance(v, str) and v.startswith("https://") for v in values)


@pytest.mark.parametrize(
    ("model_id", "inputs", "expected"),
    PRICE_CASES,
    ids=[_case_id(model_id, inputs) for model_id, inputs, _ in PRICE_CASES],
)
def test_price_matches_kie_price_text(model_id: str, inputs: dict[str, Any], expected: str) -> None:
    model = _model(model_id)
    assert model.pricing.credits(validate_inputs(model, inputs)) == Decimal(expected)


def test_price_cases_cover_at_least_twelve_models() -> None:
    assert len({model_id for model_id, _, _ in PRICE_CASES}) >= 12


def test_option_combination_kie_does_not_offer_has_no_price() -> None:
    # Hailuo 2.3: "10 seconds videos are not supported for 1080p resolution"; the price text has no such row.
    model = _model("hailuo/2-3-image-to-video-standard")
    inputs = validate_inputs(model, {"prompt": PROMPT, "image_url": PHOTO, "duration": "10", "resolution": "1080P"})
    with pytest.raises(ValueError, match="no price"):
        model.pricing.credits(inputs)


def test_verify_counts_every_market_and_family_model_and_each_enabled_one_has_a_price() -> None:
    report = verify_report(
        CATALOG, free_size=5, usd_per_credit=Decimal("0.005"), fx=Decimal("95"), markup=Decimal("2.0")
    )
    assert report["market_models"] >= 138
    enabled_families = {family for family, counts in report["per_family"].items() if counts["enabled"]}
    assert enabled_families >= {"market", "veo", "suno", "runway", "gpt4o_image", "flux_kontext"}
    assert report["enabled_without_price"] == []
    assert all(report["disabled_reasons"].values())
    # verify does not import the database layer; its free tier must stay the pricing module's.
    assert report["free_tier"] == [m.id for m in derive_free_models(CATALOG, 5)]


def test_curated_models_lead_the_menu() -> None:
    order = [m.id for m in CATALOG.visible()]
    leaders = [
        "google/nano-banana",
        "seedream/4.5-text-to-image",
        "kling-2.6/text-to-video",
        "veo/generate",
        "hailuo/2-3-image-to-video-standard",
        "ai-music-api/generate",
        "elevenlabs/text-to-speech-multilingual-v2",
        "recraft/remove-background",
        "recraft/crisp-upscale",
    ]
    positions = [order.index(model_id) for model_id in leaders]
    assert positions == sorted(positions) and positions[-1] < len(leaders) * 4
    assert all("popular" in _model(model_id).tags for model_id in leaders)


# ----------------------------------------------------------------------------------------- roubles


def test_nano_banana_costs_380_kopecks_at_95_roubles_and_double_markup() -> None:
    credits = _credits("google/nano-banana", {"prompt": PROMPT})
    kopecks = kopecks_for_credits(
        credits, usd_per_credit=Decimal("0.005"), fx_rub_per_usd=Decimal("95"), markup=Decimal("2.0")
    )
    assert kopecks == 380  # 4 × 0.005 × 95 × 2.0 = 3.80 ₽


def test_z_image_costs_76_kopecks_at_95_roubles_and_double_markup() -> None:
    credits = _credits("z-image", {"prompt": PROMPT})
    kopecks = kopecks_for_credits(
        credits, usd_per_credit=Decimal("0.005"), fx_rub_per_usd=Decimal("95"), markup=Decimal("2.0")
    )
    assert kopecks == 76  # 0.8 × 0.005 × 95 × 2.0 = 0.76 ₽


@pytest.mark.parametrize(
    ("model_id", "inputs", "fx", "expected_kopecks"),
    [
        # 209.5 × 0.005 × 95 × 2.0 = 199.025 ₽ → 199.03 ₽
        ("wan/2-6-text-to-video", {"prompt": PROMPT, "duration": "10", "resolution": "1080p"}, "95", 19903),
        # 7 credits (seedance 1.5 pro 480p 4 s): 7 × 0.005 × 92.37 × 2.0 = 6.4659 ₽ → 6.47 ₽
        ("bytedance/seedance-1.5-pro", {"prompt": PROMPT, "resolution": "480p", "duration": 4}, "92.37", 647),
        # 0.5 × 0.005 × 92.37 × 2.0 = 0.46185 ₽ → 0.47 ₽
        ("recraft/crisp-upscale", {"image": PHOTO}, "92.37", 47),
    ],
)
def test_fractional_rouble_prices_round_up_to_the_kopeck(
    model_id: str, inputs: dict[str, Any], fx: str, expected_kopecks: int
) -> None:
    credits = _credits(model_id, inputs)
    kopecks = kopecks_for_credits(
        credits, usd_per_credit=Decimal("0.005"), fx_rub_per_usd=Decimal(fx), markup=Decimal("2.0")
    )
    assert kopecks == expected_kopecks
