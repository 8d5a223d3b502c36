"""`/healthz`, `/readyz` with its reasons, and `/metrics` with the counters at the edges."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiogram.types import Update
from aiohttp.test_utils import TestClient, TestServer

from aistudio.app import AppParts
from aistudio.billing.accounts import Operator
from aistudio.billing.errors import InsufficientFunds
from aistudio.catalog.loader import Catalog
from aistudio.db.engine import create_engine
from aistudio.db.migrate import head_revision
from aistudio.generation.delivery import Failure
from aistudio.kie.client import KieClient
from aistudio.ops.metrics import MeteredDelivery, Metrics, ScrapeRefresher, instrument_kie
from aistudio.ops.state import RunState
from aistudio.ops.version import build_info
from aistudio.web.health import Readiness
from tests.ops.apps import built_app, command_update
from tests.ops.procs import Emulator
from tests.support import make_user


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found_name, _, label_text = head.partition("{")
        if found_name != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', label_text))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


@pytest.fixture
async def app(database_url: str, telegram: Emulator, tmp_path: Path) -> AsyncIterator[AppParts]:
    async with built_app(database_url, telegram.url, tmp_path) as parts:
        yield parts


@pytest.fixture
async def web(app: AppParts) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(app.web_app))
    await client.start_server()
    yield client
    await client.close()


async def test_healthz_says_which_build_is_running(web: TestClient) -> None:
    response = await web.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", **build_info().as_dict()}


async def test_readyz_is_ready_on_a_migrated_database_with_the_catalog(web: TestClient) -> None:
    response = await web.get("/readyz")
    body = await response.json()

    assert response.status == 200
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok" and body["checks"]["migrations"] == "ok"
    assert body["checks"]["catalog"].endswith("models") and "reason" not in body


async def test_readyz_names_a_schema_behind_the_code(app: AppParts, web: TestClient) -> None:
    async with app.engine.begin() as conn:
        head = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one()
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = await web.get("/readyz")
        body = await response.json()
    finally:  # the PostgreSQL database is shared by the session
        async with app.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head})

    assert response.status == 503
    assert "migrations not at head" in body["reason"]
    assert body["checks"]["migrations"].startswith("at older")


async def test_readyz_says_the_database_is_unreachable(app: AppParts) -> None:
    nowhere = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    readiness = Readiness(nowhere, app.catalog, "head", RunState())
    try:
        ok, body = await readiness.check()
    finally:
        await nowhere.dispose()

    assert not ok
    assert body["checks"]["database"] == "unreachable"
    assert body["reason"].startswith("database unreachable")


async def test_readyz_fails_without_a_catalog_and_while_shutting_down(app: AppParts) -> None:
    state = RunState(mode="webhook")
    head = head_revision(app.settings.database_url)
    ok_empty, body_empty = await Readiness(app.engine, Catalog([]), head, state).check()
    state.shutting_down = True
    ok_stopping, body_stopping = await Readiness(app.engine, app.catalog, head, state).check()

    assert not ok_empty and "catalog not loaded" in body_empty["reason"]
    assert not ok_stopping and "shutting down" in body_stopping["reason"] and body_stopping["role"] == "stopping"


async def test_metrics_count_updates_by_type_and_handler_and_time_them(
    app: AppParts, web: TestClient, telegram: Emulator
) -> None:
    await telegram.tg.create_user(960, first_name="Anna", language_code="en")
    for update_id in (1, 2):
        update = Update.model_validate(command_update(update_id, 960), context={"bot": app.bot})
        await app.dispatcher.feed_update(app.bot, update)

    text = await (await web.get("/metrics")).text()

    handled = [line for line in text.splitlines() if line.startswith("aistudio_updates_total{")]
    assert len(handled) == 1 and 'type="message"' in handled[0] and 'outcome="ok"' in handled[0]
    handler = re.search(r'handler="([^"]+)"', handled[0]).group(1)  # type: ignore[union-attr]
    assert handler.startswith("start.")
    assert float(handled[0].rsplit(" ", 1)[1]) == 2
    assert sample(text, "aistudio_update_handling_seconds_count", type="message", handler=handler) == 2
    assert sample(text, "aistudio_build_info", version=build_info().version) == 1


async def test_metrics_count_ledger_operations_by_outcome(app: AppParts, web: TestClient) -> None:
    ledger = app.services.ledger
    await make_user(app.engine, ledger, 961)
    await ledger.credit("m:1", 961, 500, Operator.TOPUPS_MANUAL)
    await ledger.credit("m:1", 961, 500, Operator.TOPUPS_MANUAL)
    with pytest.raises(InsufficientFunds):
        await ledger.hold("m:2", 961, 10_000)

    text = await (await web.get("/metrics")).text()

    assert sample(text, "aistudio_ledger_operations_total", kind="credit", outcome="ok") == 1
    assert sample(text, "aistudio_ledger_operations_total", kind="credit", outcome="duplicate") == 1
    assert sample(text, "aistudio_ledger_operations_total", kind="hold", outcome="InsufficientFunds") == 1
    assert sample(text, "aistudio_ledger_kopecks_total", kind="credit") == 500


async def test_metrics_need_the_bearer_token_when_one_is_set(
    database_url: str, telegram: Emulator, tmp_path: Path
) -> None:
    async with built_app(database_url, telegram.url, tmp_path, metrics_token="scrape-token-123") as parts:
        client = TestClient(TestServer(parts.web_app))
        await client.start_server()
        try:
            without = await client.get("/metrics")
            wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
            right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
        finally:
            await client.close()

    assert (without.status, wrong.status, right.status) == (401, 401, 200)


async def test_kie_requests_are_timed_and_counted_by_endpoint_status_and_answer_code() -> None:
    def kie(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/chat/credit":
            return httpx.Response(200, json={"code": 200, "msg": "success", "data": 1234.5})
        if request.url.path == "/api/v1/jobs/recordInfo":
            return httpx.Response(200, json={"code": 422, "msg": "recordInfo is null"})
        return httpx.Response(200, content=b"\x89PNG...")

    metrics = Metrics(process_metrics=False)
    client = KieClient("k" * 32, base_url="https://api.kie.test", transport=httpx.MockTransport(kie), get_attempts=1)
    instrument_kie(client._http, metrics, ["https://api.kie.test", "https://upload.kie.test"])
    balance = await client.credit_balance()
    with pytest.raises(Exception):  # noqa: B017 - which KieError does not matter here
        await client.market_record_info("task-1")
    await client._http.get("https://files.example.com/result.png")
    await client.aclose()
    text = metrics.render().decode()

    assert balance == Decimal("1234.5")
    assert sample(text, "aistudio_kie_requests_total", endpoint="/api/v1/chat/credit", status="200") == 1
    assert sample(text, "aistudio_kie_answer_codes_total", endpoint="/api/v1/chat/credit", code="200") == 1
    assert sample(text, "aistudio_kie_answer_codes_total", endpoint="/api/v1/jobs/recordInfo", code="422") == 1
    assert sample(text, "aistudio_kie_requests_total", endpoint="download", status="200") == 1
    assert sample(text, "aistudio_kie_request_seconds_count", endpoint="/api/v1/chat/credit") == 1


async def test_kie_network_errors_are_counted() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    metrics = Metrics(process_metrics=False)
    client = KieClient("k" * 32, base_url="https://api.kie.test", transport=httpx.MockTransport(refuse), get_attempts=1)
    instrument_kie(client._http, metrics, ["https://api.kie.test"])
    with pytest.raises(Exception):  # noqa: B017
        await client.credit_balance()
    await client.aclose()

    text = metrics.render().decode()
    assert sample(text, "aistudio_kie_requests_total", endpoint="/api/v1/chat/credit", status="network_error") == 1


class _Inner:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def deliver(self, gen: Any, files: Any) -> list[dict[str, str]]:
        self.calls.append("deliver")
        return [{"file_id": "x"}]

    async def fail(self, gen: Any, failure: Any) -> None:
        self.calls.append("fail")

    async def progress(self, gen: Any, state: str) -> None:
        self.calls.append(state)

    async def unconfirmed(self, gen: Any) -> None:
        self.calls.append("unconfirmed")


class _Gen:
    def __init__(self, gid: int, model: str) -> None:
        self.id, self.request_id, self.user_id, self.model_id = gid, f"RQ-{gid:08d}", 5, model
        self.created_at = datetime(2025, 1, 1, tzinfo=UTC)


async def test_generation_final_states_are_counted_by_model_where_they_are_delivered_or_failed() -> None:
    metrics = Metrics(process_metrics=False)
    inner = _Inner()
    delivery = MeteredDelivery(inner, metrics, clock=lambda: datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC).timestamp())

    sent = await delivery.deliver(_Gen(1, "nano"), [])  # type: ignore[arg-type]
    await delivery.progress(_Gen(2, "veo"), "queued")  # type: ignore[arg-type]
    await delivery.fail(_Gen(2, "veo"), Failure("timed_out", None, 100))  # type: ignore[arg-type]
    await delivery.unconfirmed(_Gen(3, "nano"))  # type: ignore[arg-type]
    text = metrics.render().decode()

    assert sent == [{"file_id": "x"}] and inner.calls == ["deliver", "queued", "fail", "unconfirmed"]
    assert sample(text, "aistudio_generations_total", model="nano", state="completed", error_class="") == 1
    assert sample(text, "aistudio_generations_total", model="veo", state="failed", error_class="timed_out") == 1
    assert sample(text, "aistudio_generations_total", model="nano", state="completed", error_class="unconfirmed") == 1
    assert sample(text, "aistudio_generation_seconds_sum", model="nano") == 30


async def test_scrapes_read_free_spend_and_the_kie_balance_in_the_background_and_keep_the_last_value() -> None:
    metrics = Metrics(process_metrics=False)
    now = [100.0]
    answers: list[Any] = [Decimal("750.5"), RuntimeError("Kie down")]
    calls = {"kie": 0, "db": 0}

    async def free_spent() -> Decimal:
        calls["db"] += 1
        return Decimal("12.5")

    async def kie_balance() -> Decimal:
        calls["kie"] += 1
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    refresher = ScrapeRefresher(
        metrics, free_spent=free_spent, kie_balance=kie_balance, db_every=10, kie_every=300, clock=lambda: now[0]
    )
    unknown_before = metrics.render().decode()
    await refresher.refresh()
    await refresher.wait_background()
    await refresher.refresh()  # within both intervals: nothing read again
    now[0] += 400
    await refresher.refresh()
    await refresher.wait_background()  # Kie fails: the last good value stays
    text = metrics.render().decode()

    unknown = sample(unknown_before, "aistudio_kie_credit_balance")
    assert unknown is not None and unknown != unknown  # NaN: not read yet, never a misleading 0
    assert sample(text, "aistudio_free_tier_credits_today") == 12.5
    assert sample(text, "aistudio_kie_credit_balance") == 750.5
    assert calls == {"kie": 2, "db": 2}
    assert sample(text, "aistudio_kie_credit_balance_age_seconds") == 400


def test_kie_endpoint_labels_stay_bounded() -> None:
    from aistudio.ops.metrics import kie_endpoint

    hosts = frozenset({"api.kie.ai"})
    record_info = httpx.URL("https://api.kie.ai/api/v1/jobs/recordInfo?taskId=1")
    assert kie_endpoint(record_info, hosts) == "/api/v1/jobs/recordInfo"
    assert kie_endpoint(httpx.URL("https://api.kie.ai/api/v1/x/3f2a9c1b7d6e5f4a3b2c"), hosts) == "/api/v1/x/:id"
    assert kie_endpoint(httpx.URL("https://cdn.example.com/a/b.png"), hosts) == "download"
