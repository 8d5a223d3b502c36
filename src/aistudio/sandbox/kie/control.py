"""The test control API under `/sandbox/...` (plain JSON, no Kie envelope, no API key).

GET  /sandbox/tasks[?model=&state=]   every task: model, input, state, callback URL, callbacks sent
GET  /sandbox/tasks/{id}              one task
POST /sandbox/tasks/{id}/complete     {"outcome": "success"|"fail", "fail_code"?, "fail_message"?}
POST /sandbox/faults                  merge a fault rule (see faults.py); GET shows all rules
POST /sandbox/timing                  {"model"?, "duration": 5 | [2, 8], "time_scale"?}
POST /sandbox/credits                 {"credits": 1000}
POST /sandbox/reset                   forget tasks, files, faults, counters; credits back to start
GET  /sandbox/stats                   request counts per endpoint, task and callback counters
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from aistudio.sandbox.kie.faults import FaultSpecError
from aistudio.sandbox.kie.http import emulator


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "body is not JSON"}', content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be an object"}', content_type="application/json")
    return body


async def list_tasks(request: web.Request) -> web.Response:
    emu = emulator(request)
    now = emu.now()
    model = request.query.get("model")
    state = request.query.get("state")
    tasks = [t.summary(now) for t in emu.tasks.values() if model in (None, t.model)]
    if state:
        tasks = [t for t in tasks if t["state"] == state]
    return web.json_response({"tasks": tasks})


async def get_task(request: web.Request) -> web.Response:
    emu = emulator(request)
    task = emu.tasks.get(request.match_info["task_id"])
    if task is None:
        raise web.HTTPNotFound()
    return web.json_response(task.summary(emu.now()))


async def complete_task(request: web.Request) -> web.Response:
    emu = emulator(request)
    task = emu.tasks.get(request.match_info["task_id"])
    if task is None:
        raise web.HTTPNotFound()
    body = await _body(request)
    outcome = body.get("outcome", "success")
    if outcome not in ("success", "fail"):
        return _bad("outcome must be success or fail")
    if "fail_code" in body:
        task.fail_code = int(body["fail_code"])
    if "fail_message" in body:
        task.fail_message = str(body["fail_message"])
    changed = emu.complete_now(task, outcome)
    return web.json_response({"changed": changed, "task": task.summary(emu.now())})


async def set_faults(request: web.Request) -> web.Response:
    emu = emulator(request)
    try:
        emu.faults.configure(await _body(request))
    except FaultSpecError as exc:
        return _bad(str(exc))
    return web.json_response({"faults": emu.faults.as_dict()})


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": emulator(request).faults.as_dict()})


async def set_timing(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await _body(request)
    duration = body.get("duration")
    if isinstance(duration, list):
        if len(duration) != 2:
            return _bad("duration range is [min, max]")
        duration = (float(duration[0]), float(duration[1]))
    try:
        emu.set_timing(body.get("model"), duration, body.get("time_scale"))
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    config = emu.config
    return web.json_response(
        {"duration": config.duration, "durations": config.durations, "time_scale": config.time_scale}
    )


async def set_credits(request: web.Request) -> web.Response:
    emu = emulator(request)
    body = await _body(request)
    try:
        emu.balance = Decimal(str(body["credits"]))
    except (KeyError, InvalidOperation):
        return _bad("credits must be a number")
    return web.json_response({"credits": float(emu.balance)})


async def reset(request: web.Request) -> web.Response:
    emulator(request).reset()
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(emulator(request).stats())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/tasks", list_tasks)
    app.router.add_get("/sandbox/tasks/{task_id}", get_task)
    app.router.add_post("/sandbox/tasks/{task_id}/complete", complete_task)
    app.router.add_post("/sandbox/faults", set_faults)
    app.router.add_get("/sandbox/faults", get_faults)
    app.router.add_post("/sandbox/timing", set_timing)
    app.router.add_post("/sandbox/credits", set_credits)
    app.router.add_post("/sandbox/reset", reset)
    app.router.add_get("/sandbox/stats", stats)
