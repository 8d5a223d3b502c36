"""Kie's catalog endpoints (models, schema, price) answered from our own catalog.

Shapes follow the saved samples of Kie's answers: `{"total", "models": [...]}`, `{"model", "openapi"}`
and `{"model", "pricingDesc"}`. Model ids keep their slash in the path, as on Kie.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aistudio.catalog.models import InputField, ModelSpec
from aistudio.sandbox.kie.http import emulator, envelope_error, ok
from aistudio.sandbox.kie.intake import KieAnswer

_TASK_TYPES = {
    "text_to_image": "Text to Image",
    "image_edit": "Image to Image",
    "text_to_video": "Text to Video",
    "image_to_video": "Image to Video",
    "video_to_video": "Video to Video",
    "music": "Text to Music",
    "speech": "Text to Speech",
    "sound": "Text to Audio",
    "tools": "Image to Image",
    "avatar": "Image to Video",
}


def price_text(spec: ModelSpec) -> str:
    if spec.pricing.note:
        return spec.pricing.note
    try:
        credits = spec.pricing.credits(spec.defaults())
    except (ValueError, ArithmeticError):  # disabled models may have no price for their defaults
        credits = spec.pricing.base
    return f"{credits} credits per generation" if credits is not None else "price on request"


def _model_entry(spec: ModelSpec) -> dict[str, Any]:
    return {
        "model": spec.id,
        "slug": spec.id,
        "title": spec.name.en,
        "provider": spec.id.split("/", 1)[0] if "/" in spec.id else "Kie",
        "taskType": [_TASK_TYPES.get(spec.category.value, spec.category.value)],
        "description": spec.description.en,
        "pricingDesc": price_text(spec),
    }


def _property(field: InputField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": field.type, "description": field.label.en}
    optional = {
        "enum": field.enum,
        "default": field.default,
        "minimum": field.minimum,
        "maximum": field.maximum,
        "minLength": field.min_length,
        "maxLength": field.max_length,
        "minItems": field.min_items,
        "maxItems": field.max_items,
    }
    schema.update({k: v for k, v in optional.items() if v is not None})
    if field.type == "array":
        schema["items"] = {"type": "string"}
    return schema


def openapi_for(spec: ModelSpec) -> dict[str, Any]:
    """A minimal OpenAPI 3.1 document of the model's createTask request."""
    input_schema = {
        "type": "object",
        "required": [f.name for f in spec.inputs if f.required],
        "properties": {f.name: _property(f) for f in spec.inputs},
    }
    request_schema = {
        "type": "object",
        "required": ["model", "input"],
        "properties": {
            "model": {"type": "string", "enum": [spec.id]},
            "callBackUrl": {"type": "string", "format": "uri"},
            "input": input_schema,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "kie.ai", "version": "1.0.0"},
        "paths": {
            "/api/v1/jobs/createTask": {
                "post": {
                    "summary": f"Generate with {spec.name.en}",
                    "requestBody": {"content": {"application/json": {"schema": request_schema}}},
                }
            }
        },
    }


def _spec(request: web.Request) -> ModelSpec:
    model = request.match_info["model"]
    catalog = emulator(request).catalog
    if model not in catalog:
        raise KieAnswer(404, f"model {model} not found")
    return catalog.get(model)


async def list_models(request: web.Request) -> web.Response:
    models = [_model_entry(spec) for spec in emulator(request).catalog]
    return ok({"total": len(models), "models": models})


async def model_schema(request: web.Request) -> web.Response:
    try:
        spec = _spec(request)
    except KieAnswer as answer:
        return envelope_error(answer)
    return ok({"model": spec.id, "openapi": openapi_for(spec)})


async def model_price(request: web.Request) -> web.Response:
    try:
        spec = _spec(request)
    except KieAnswer as answer:
        return envelope_error(answer)
    return ok({"model": spec.id, "pricingDesc": price_text(spec)})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/models", list_models)
    app.router.add_get("/api/v1/models/{model:.+}/schema", model_schema)
    app.router.add_get("/api/v1/models/{model:.+}/price", model_price)
