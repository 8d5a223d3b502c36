"""One interface over Kie's APIs: the Market jobs API and the families with their own endpoints.

Request convention for family models: the catalog's input field names are the family API's own
(camelCase) request fields, so inputs are sent as they are, plus `callBackUrl`. Families whose request
names a model variant (`model` for Veo, Suno and Flux Kontext; `taskType` for Midjourney) take it from
the inputs, else from that input's catalog default, else from the last part of the model id
(`test/veo3_fast` → `veo3_fast`). Suno models whose id ends in `/sounds` go to Suno's sounds endpoint.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from aistudio.catalog.models import Family, ModelSpec
from aistudio.kie.client import KieClient, task_id_from
from aistudio.kie.errors import KieNotFound
from aistudio.kie.parsing import (
    MARKET_STATES,
    flagged_status,
    json_field,
    parse_flag_record,
    text_or_none,
    url_list,
)
from aistudio.kie.types import TaskState, TaskStatus


class FamilyAdapter(Protocol):
    """Submit a task and read its status, whatever API family serves the model."""

    family: Family

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> str:
        """Start a task; return Kie's task id. Raises the client's typed errors."""
        ...

    async def status(self, model: ModelSpec, task_id: str) -> TaskStatus:
        """Current status; results are in `TaskStatus.result_urls` once it succeeded."""
        ...


def variant_name(model: ModelSpec) -> str:
    """The family's model variant for a catalog id: its last path part."""
    return model.id.rsplit("/", 1)[-1]


def _field_default(model: ModelSpec, name: str) -> Any:
    try:
        return model.field(name).default
    except KeyError:
        return None


def _record(data: Any, task_id: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise KieNotFound(422, f"record is null for {task_id}")
    return data


class MarketAdapter:
    """The unified jobs API: createTask / recordInfo with `model` and `input`."""

    family = Family.MARKET

    def __init__(self, client: KieClient) -> None:
        self._client = client

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> str:
        return await self._client.create_market_task(model.id, inputs, callback_url)

    async def status(self, model: ModelSpec, task_id: str) -> TaskStatus:
        return await self._client.market_record_info(task_id)


class _FamilyBase:
    """Shared submit/status plumbing for the family APIs; subclasses parse their own record."""

    family: Family
    create_path: str
    query_path: str
    variant_key: str | None = None  # the request field naming the model variant, if any
    variant_default: str | None = None  # used instead of the model id when set (Midjourney)

    def __init__(self, client: KieClient) -> None:
        self._client = client

    def request_body(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> dict[str, Any]:
        body = dict(inputs)
        if self.variant_key and self.variant_key not in body:
            default = _field_default(model, self.variant_key)
            body[self.variant_key] = default or self.variant_default or variant_name(model)
        if callback_url:
            body["callBackUrl"] = callback_url
        return body

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> str:
        data = await self._client.submit(self.create_path, self.request_body(model, inputs, callback_url))
        return task_id_from(data)

    async def status(self, model: ModelSpec, task_id: str) -> TaskStatus:
        data = await self._client.query(self.query_path, {"taskId": task_id})
        return self.parse(_record(data, task_id))

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        raise NotImplementedError


def _response(data: dict[str, Any]) -> dict[str, Any]:
    value = json_field(data.get("response"))
    return value if isinstance(value, dict) else {}


class VeoAdapter(_FamilyBase):
    family = Family.VEO
    create_path = "/api/v1/veo/generate"
    query_path = "/api/v1/veo/record-info"
    variant_key = "model"

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        return parse_flag_record(data, url_list(_response(data).get("resultUrls")))


class FluxKontextAdapter(_FamilyBase):
    family = Family.FLUX_KONTEXT
    create_path = "/api/v1/flux/kontext/generate"
    query_path = "/api/v1/flux/kontext/record-info"
    variant_key = "model"

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        return parse_flag_record(data, url_list(_response(data).get("resultImageUrl")))


class MidjourneyAdapter(_FamilyBase):
    family = Family.MIDJOURNEY
    create_path = "/api/v1/mj/generate"
    query_path = "/api/v1/mj/record-info"
    variant_key = "taskType"
    variant_default = "mj_txt2img"

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        info = json_field(data.get("resultInfoJson"))
        items = info.get("resultUrls") if isinstance(info, dict) else None
        urls = [str(i["resultUrl"]) for i in items or [] if isinstance(i, dict) and i.get("resultUrl")]
        return parse_flag_record(data, urls)


_GPT4O_STATES = {
    "GENERATING": TaskState.RUNNING,
    "SUCCESS": TaskState.SUCCESS,
    "CREATE_TASK_FAILED": TaskState.FAILED,
    "GENERATE_FAILED": TaskState.FAILED,
}


class Gpt4oImageAdapter(_FamilyBase):
    family = Family.GPT4O_IMAGE
    create_path = "/api/v1/gpt4o-image/generate"
    query_path = "/api/v1/gpt4o-image/record-info"

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        urls = url_list(_response(data).get("resultUrls"))
        status = str(data.get("status") or "").upper()
        if status in _GPT4O_STATES:
            return flagged_status(data, _GPT4O_STATES[status], urls)
        return parse_flag_record(data, urls)


_SUNO_RUNNING = {
    "PENDING": TaskState.PENDING,
    "TEXT_SUCCESS": TaskState.RUNNING,
    "FIRST_SUCCESS": TaskState.RUNNING,
}


SUNO_SOUNDS_PATH = "/api/v1/generate/sounds"


def is_suno_sounds(model: ModelSpec) -> bool:
    """Suno's sound-effect models (`.../sounds`) have their own create endpoint; status is shared."""
    return variant_name(model) == "sounds"


class SunoAdapter(_FamilyBase):
    family = Family.SUNO
    create_path = "/api/v1/generate"
    query_path = "/api/v1/generate/record-info"
    variant_key = "model"

    def request_body(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> dict[str, Any]:
        body = super().request_body(model, inputs, callback_url)
        if not is_suno_sounds(model):
            # Music generation rejects a request without these two flags.
            body.setdefault("customMode", False)
            body.setdefault("instrumental", False)
        return body

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None) -> str:
        path = SUNO_SOUNDS_PATH if is_suno_sounds(model) else self.create_path
        data = await self._client.submit(path, self.request_body(model, inputs, callback_url))
        return task_id_from(data)

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        tracks = _response(data).get("sunoData") or []
        urls = [str(t["audioUrl"]) for t in tracks if isinstance(t, dict) and t.get("audioUrl")]
        status = str(data.get("status") or "PENDING").upper()
        if status == "SUCCESS" or (status == "CALLBACK_EXCEPTION" and urls):
            # CALLBACK_EXCEPTION only says Kie could not reach our callback; the music may exist.
            return flagged_status(data, TaskState.SUCCESS, urls)
        if status in _SUNO_RUNNING:
            return flagged_status(data, _SUNO_RUNNING[status], [])
        failed = flagged_status(data, TaskState.FAILED, [])
        if status == "SENSITIVE_WORD_ERROR":
            message = failed.fail_message or "sensitive word in the prompt"
            return replace(failed, fail_code="400", fail_message=message)
        if failed.fail_code is None:
            return replace(failed, fail_code="501", fail_message=failed.fail_message or status)
        return failed


class RunwayAdapter(_FamilyBase):
    family = Family.RUNWAY
    create_path = "/api/v1/runway/generate"
    query_path = "/api/v1/runway/record-detail"

    def parse(self, data: dict[str, Any]) -> TaskStatus:
        state = MARKET_STATES.get(str(data.get("state") or "").lower(), TaskState.PENDING)
        info = json_field(data.get("videoInfo"))
        urls = url_list(info.get("videoUrl")) if isinstance(info, dict) else []
        status = flagged_status(data, state, urls)
        if state is TaskState.FAILED:
            return replace(
                status,
                fail_code=text_or_none(data.get("failCode")) or "501",
                fail_message=text_or_none(data.get("failMsg")),
            )
        return status


_ADAPTERS: dict[Family, type[MarketAdapter] | type[_FamilyBase]] = {
    Family.MARKET: MarketAdapter,
    Family.VEO: VeoAdapter,
    Family.SUNO: SunoAdapter,
    Family.RUNWAY: RunwayAdapter,
    Family.GPT4O_IMAGE: Gpt4oImageAdapter,
    Family.FLUX_KONTEXT: FluxKontextAdapter,
    Family.MIDJOURNEY: MidjourneyAdapter,
}


def adapter_for(family: Family | str, client: KieClient) -> FamilyAdapter:
    """The adapter serving a family, bound to the process's client."""
    return _ADAPTERS[Family(family)](client)


class KieGateway:
    """What the generation service talks to: submit and status for any catalog model."""

    def __init__(self, client: KieClient) -> None:
        self.client = client
        self._adapters: dict[Family, FamilyAdapter] = {}

    def adapter(self, model: ModelSpec) -> FamilyAdapter:
        if model.family not in self._adapters:
            self._adapters[model.family] = adapter_for(model.family, self.client)
        return self._adapters[model.family]

    async def submit(self, model: ModelSpec, inputs: dict[str, Any], callback_url: str | None = None) -> str:
        return await self.adapter(model).submit(model, inputs, callback_url)

    async def status(self, model: ModelSpec, task_id: str) -> TaskStatus:
        return await self.adapter(model).status(model, task_id)
