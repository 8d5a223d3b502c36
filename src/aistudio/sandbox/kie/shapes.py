"""How each Kie API family spells a task: its endpoints, status fields, records and callback bodies.

Kept apart from the task logic so the quirks are in one place: Market's `param`/`resultJson` JSON strings,
Veo's `successFlag` and "YYYY-MM-DD HH:MM:SS" times, Suno's snake_case staged callbacks, Runway's
`wait`/`queueing` states and `videoInfo`, 4o Image's `status`, Flux's `resultImageUrl`, Midjourney's
`resultInfoJson.resultUrls[].resultUrl`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aistudio.catalog.models import Family, ModelSpec
from aistudio.sandbox.kie.tasks import Task


@dataclass(frozen=True)
class FamilyApi:
    family: Family
    create_path: str
    query_path: str
    variant_key: str | None  # request field naming the model variant
    extra_keys: frozenset[str]  # request fields Kie accepts that are not catalog inputs
    output: str  # result kind when the model is not in the catalog
    results: int  # result files per task
    record: Callable[[Task, str], dict[str, Any]]
    callback: Callable[[Task], dict[str, Any]]


def _stamp(ms: int | None) -> str | None:
    """Veo's "2025-06-06 10:25:00" style (UTC)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _param(task: Task) -> str:
    return json.dumps(task.request, ensure_ascii=False)


def _flag(state: str, fail_flag: int = 3) -> int:
    return {"success": 1, "fail": fail_flag}.get(state, 0)


def _errors(task: Task, state: str) -> dict[str, Any]:
    failed = state == "fail"
    return {
        "errorCode": task.fail_code if failed else None,
        "errorMessage": task.fail_message if failed else "",
    }


def _code_msg(task: Task, ok: str) -> tuple[int, str]:
    return (200, ok) if task.final == "success" else (task.fail_code, task.fail_message)


# -- Market -----------------------------------------------------------------------------------------


def market_record(task: Task, state: str, remained: float | None = None) -> dict[str, Any]:
    success, failed = state == "success", state == "fail"
    complete = task.completed_ms
    record: dict[str, Any] = {
        "taskId": task.id,
        "model": task.model,
        "state": state,
        "param": _param(task),
        "resultJson": json.dumps({"resultUrls": task.result_urls}) if success else "",
        "failCode": str(task.fail_code) if failed else "",
        "failMsg": task.fail_message if failed else "",
        "costTime": (complete - task.created_ms) if complete else 0,
        "completeTime": complete,
        "createTime": task.created_ms,
        "updateTime": complete or task.created_ms,
        "consumeCredits": float(task.cost) if success else 0,
    }
    if remained is not None:
        record["remainedCredits"] = remained
    return record


def market_callback(task: Task) -> dict[str, Any]:
    state = task.final or "fail"
    code = 200 if state == "success" else 501
    msg = "Playground task completed successfully." if code == 200 else task.fail_message
    return {"code": code, "msg": msg, "data": market_record(task, state)}


# -- families ---------------------------------------------------------------------------------------


def _veo_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    response = {"taskId": task.id, "resultUrls": task.result_urls, "originUrls": [], "resolution": "720p"}
    return {
        "taskId": task.id,
        "paramJson": _param(task),
        "completeTime": _stamp(task.completed_ms),
        "response": response if ok else None,
        "successFlag": _flag(state),
        **_errors(task, state),
        "createTime": _stamp(task.created_ms),
        "fallbackFlag": False,
    }


def _veo_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "Veo3.1 video generated successfully.")
    info = {"resultUrls": task.result_urls, "originUrls": [], "resolution": "720p"} if code == 200 else None
    return {"code": code, "msg": msg, "data": {"taskId": task.id, "info": info, "fallbackFlag": False}}


def _suno_tracks(task: Task, snake: bool) -> list[dict[str, Any]]:
    tracks = []
    for index, url in enumerate(task.result_urls):
        track_id = f"{task.id}-{index}"
        title = str(task.inputs.get("title") or "Sandbox song")
        if snake:
            tracks.append(
                {
                    "id": track_id,
                    "audio_url": url,
                    "stream_audio_url": url,
                    "image_url": None,
                    "prompt": task.prompt,
                    "model_name": task.model,
                    "title": title,
                    "tags": task.inputs.get("style"),
                    "duration": 2.0,
                }
            )
        else:
            tracks.append(
                {
                    "id": track_id,
                    "audioUrl": url,
                    "streamAudioUrl": url,
                    "imageUrl": None,
                    "prompt": task.prompt,
                    "modelName": task.model,
                    "title": title,
                    "tags": task.inputs.get("style"),
                    "duration": 2.0,
                    "createTime": task.completed_ms,
                }
            )
    return tracks


def _suno_status(task: Task, state: str) -> str:
    if state == "fail":
        return "SENSITIVE_WORD_ERROR" if task.fail_code == 400 else "GENERATE_AUDIO_FAILED"
    return {"waiting": "PENDING", "queuing": "PENDING", "generating": "TEXT_SUCCESS"}.get(state, "SUCCESS")


def _suno_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    return {
        "taskId": task.id,
        "parentMusicId": "",
        "param": _param(task),
        "response": {"taskId": task.id, "sunoData": _suno_tracks(task, snake=False) if ok else []},
        "status": _suno_status(task, state),
        "type": "chirp-v4",
        **_errors(task, state),
        "createTime": task.created_ms,
    }


def _suno_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "All generated successfully.")
    stage = "complete" if code == 200 else "error"
    tracks = _suno_tracks(task, snake=True) if code == 200 else []
    return {"code": code, "msg": msg, "data": {"callbackType": stage, "task_id": task.id, "data": tracks}}


def _runway_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    spelled = {"waiting": "wait", "queuing": "queueing"}.get(state, state)
    return {
        "taskId": task.id,
        "parentTaskId": "",
        "generateParam": {"prompt": task.prompt, "imageUrl": task.inputs.get("imageUrl", "")},
        "state": spelled,
        "generateTime": _stamp(task.completed_ms),
        "videoInfo": {"videoId": task.id, "videoUrl": task.result_urls[0], "imageUrl": None} if ok else None,
        "failCode": task.fail_code if state == "fail" else None,
        "failMsg": task.fail_message if state == "fail" else "",
        "expireFlag": 0,
        "createTime": task.created_ms,
    }


def _runway_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "Video generated successfully.")
    data: dict[str, Any] = {"task_id": task.id}
    if code == 200:
        data |= {"video_id": task.id, "video_url": task.result_urls[0], "image_url": None, "expire_flag": 0}
    return {"code": code, "msg": msg, "data": data}


def _gpt4o_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    status = {"success": "SUCCESS", "fail": "GENERATE_FAILED"}.get(state, "GENERATING")
    return {
        "taskId": task.id,
        "paramJson": _param(task),
        "completeTime": task.completed_ms,
        "response": {"resultUrls": task.result_urls} if ok else None,
        "successFlag": _flag(state, fail_flag=2),
        "status": status,
        **_errors(task, state),
        "createTime": task.created_ms,
        "progress": "1.00" if ok else "0.50",
    }


def _gpt4o_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "Image generated successfully.")
    info = {"result_urls": task.result_urls} if code == 200 else None
    return {"code": code, "msg": msg, "data": {"taskId": task.id, "info": info}}


def _flux_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    url = task.result_urls[0] if ok else None
    return {
        "taskId": task.id,
        "paramJson": _param(task),
        "completeTime": task.completed_ms,
        "response": {"originImageUrl": url, "resultImageUrl": url} if ok else None,
        "successFlag": _flag(state),
        **_errors(task, state),
        "createTime": task.created_ms,
    }


def _flux_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "Image generated successfully.")
    url = task.result_urls[0] if code == 200 else None
    info = {"originImageUrl": url, "resultImageUrl": url} if code == 200 else None
    return {"code": code, "msg": msg, "data": {"taskId": task.id, "info": info}}


def _mj_record(task: Task, state: str) -> dict[str, Any]:
    ok = state == "success"
    return {
        "taskId": task.id,
        "taskType": task.request.get("taskType", "mj_txt2img"),
        "paramJson": _param(task),
        "completeTime": task.completed_ms,
        "resultInfoJson": {"resultUrls": [{"resultUrl": u} for u in task.result_urls]} if ok else None,
        "successFlag": _flag(state),
        **_errors(task, state),
        "createTime": task.created_ms,
    }


def _mj_callback(task: Task) -> dict[str, Any]:
    code, msg = _code_msg(task, "Image generated successfully.")
    urls = task.result_urls if code == 200 else []
    return {
        "code": code,
        "msg": msg,
        "data": {"taskId": task.id, "promptJson": _param(task), "resultUrls": urls},
    }


SUNO_SOUNDS_PATH = "/api/v1/generate/sounds"


def is_suno_sounds(spec: ModelSpec) -> bool:
    """Catalog models `.../sounds` are Suno sound effects, created on their own endpoint."""
    return spec.family is Family.SUNO and spec.id.rsplit("/", 1)[-1] == "sounds"


_CB = frozenset({"callBackUrl"})
FAMILY_APIS: dict[Family, FamilyApi] = {
    api.family: api
    for api in (
        FamilyApi(
            Family.VEO,
            "/api/v1/veo/generate",
            "/api/v1/veo/record-info",
            "model",
            _CB | {"model", "enableTranslation", "enableFallback"},
            "video",
            1,
            _veo_record,
            _veo_callback,
        ),
        FamilyApi(
            Family.SUNO,
            "/api/v1/generate",
            "/api/v1/generate/record-info",
            "model",
            _CB | {"model", "customMode", "instrumental"},
            "audio",
            2,
            _suno_record,
            _suno_callback,
        ),
        FamilyApi(
            Family.RUNWAY,
            "/api/v1/runway/generate",
            "/api/v1/runway/record-detail",
            None,
            _CB | {"waterMark"},
            "video",
            1,
            _runway_record,
            _runway_callback,
        ),
        FamilyApi(
            Family.GPT4O_IMAGE,
            "/api/v1/gpt4o-image/generate",
            "/api/v1/gpt4o-image/record-info",
            None,
            _CB,
            "image",
            1,
            _gpt4o_record,
            _gpt4o_callback,
        ),
        FamilyApi(
            Family.FLUX_KONTEXT,
            "/api/v1/flux/kontext/generate",
            "/api/v1/flux/kontext/record-info",
            "model",
            _CB | {"model"},
            "image",
            1,
            _flux_record,
            _flux_callback,
        ),
        FamilyApi(
            Family.MIDJOURNEY,
            "/api/v1/mj/generate",
            "/api/v1/mj/record-info",
            "taskType",
            _CB | {"taskType"},
            "image",
            4,
            _mj_record,
            _mj_callback,
        ),
    )
}


def callback_body(task: Task) -> dict[str, Any]:
    """What Kie POSTs to `callBackUrl` when the task ends, in the task's family's shape."""
    if task.family is Family.MARKET:
        return market_callback(task)
    return FAMILY_APIS[task.family].callback(task)
