"""Resumers in separate processes on one PostgreSQL database: each generation delivered at most once and
charged exactly when delivered, even when one process is killed with SIGKILL mid-stream."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from aistudio.db.tables import generation_events, ledger_transfers
from aistudio.generation.launch import launch
from aistudio.generation.states import State
from tests.generation.harness import API_KEY, PAID_MODEL, PAID_PRICE, Harness

ROOT = Path(__file__).resolve().parents[2]


async def start_resumer(
    h: Harness, tmp: Path, worker: str, *, lease: float, go_file: Path | None = None
) -> asyncio.subprocess.Process:
    together = ["--go-file", str(go_file)] if go_file is not None else []
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.generation.resumer_process",
        "--database-url", h.database_url, "--kie-url", h.url, "--kie-key", API_KEY,
        "--out", str(tmp / "deliveries.jsonl"), "--results", str(tmp / f"results-{worker}"),
        "--worker", worker, "--lease-seconds", str(lease), "--max-seconds", "60", *together,
        cwd=ROOT,
    )  # fmt: skip


async def start_together(h: Harness, tmp: Path, workers: tuple[str, ...]) -> list[asyncio.subprocess.Process]:
    """Start the processes, and let them claim work only once all are up: a process that starts a second
    earlier could otherwise finish a small backlog alone (starting Python and aiogram takes seconds)."""
    go = tmp / "go"
    procs = [await start_resumer(h, tmp, w, lease=60, go_file=go) for w in workers]
    for _ in range(3000):
        if all((tmp / f"go.ready-{w}").exists() for w in workers):
            break
        await asyncio.sleep(0.02)
    go.touch()
    return procs


def deliveries(tmp: Path) -> list[dict]:
    path = tmp / "deliveries.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def backlog(h: Harness, count: int) -> list[int]:
    """Generations written but not started, as if every process had just restarted."""
    service = h.build()
    users = [await h.user(uid, balance=10_000) for uid in range(1, count // 2 + 1)]
    offer = await service.offer(PAID_MODEL, {"prompt": "fox"})
    return [(await launch(service.pipeline, user_id=u, offer=offer)).id for u in users for _ in range(2)]


@pytest.mark.postgres
async def test_two_resumer_processes_deliver_each_generation_exactly_once(pg_polling: Harness, tmp_path: Path) -> None:
    h = pg_polling
    ids = await backlog(h, 30)

    procs = await start_together(h, tmp_path, ("proc-a", "proc-b"))
    codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout=90)

    lines = [d for d in deliveries(tmp_path) if d["event"] == "delivered"]
    assert codes == [0, 0]
    assert sorted(d["generation"] for d in lines) == sorted(ids)  # every one, none twice
    assert {d["worker"] for d in lines} == {"proc-a", "proc-b"}  # both processes did deliveries
    done = [await h.generation(gid) for gid in ids]
    assert all(g.state is State.COMPLETED and g.charged_kopecks == PAID_PRICE for g in done)
    await h.assert_books_balanced()


@pytest.mark.postgres
async def test_a_killed_resumer_leaves_nothing_unresolved(pg_polling: Harness, tmp_path: Path) -> None:
    h = pg_polling
    await h.http.post(f"{h.url}/sandbox/timing", json={"model": PAID_MODEL, "duration": 20})  # 0.2 s tasks
    ids = await backlog(h, 30)
    victim = await start_resumer(h, tmp_path, "victim", lease=1.0)
    for _ in range(400):  # let it get going, then kill it mid-stream
        if len(deliveries(tmp_path)) >= 5:
            break
        await asyncio.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    survivor = await start_resumer(h, tmp_path, "survivor", lease=1.0)

    assert await asyncio.wait_for(survivor.wait(), timeout=90) == 0
    lines = [d for d in deliveries(tmp_path) if d["event"] == "delivered"]
    delivered = [d["generation"] for d in lines]
    done = {gid: await h.generation(gid) for gid in ids}
    assert len(delivered) == len(set(delivered))  # never twice
    assert all(g.state is State.COMPLETED for g in done.values())
    assert {d["worker"] for d in lines} == {"victim", "survivor"}
    # A delivery the victim may have started without recording is settled, never re-sent, and marked.
    async with h.engine.connect() as conn:
        completions = await conn.execute(
            sa.select(generation_events.c.generation_id, generation_events.c.detail).where(
                generation_events.c.state == "completed"
            )
        )
        unconfirmed = {gid for gid, detail in completions if detail and detail.get("confirmed") is False}
        open_holds = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(ledger_transfers).where(ledger_transfers.c.status == "pending")
            )
        ).scalar_one()
    missing = set(ids) - set(delivered)
    assert missing <= unconfirmed  # only the sends the victim had in flight, each settled and marked
    noticed = {d["generation"] for d in deliveries(tmp_path) if d["event"] == "unconfirmed"}
    assert missing <= noticed  # and each of those users was told the result is ready
    assert open_holds == 0
    assert all(done[g].charged_kopecks == PAID_PRICE for g in ids)
    await h.assert_books_balanced()
