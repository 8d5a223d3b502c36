"""A resumer in its own process, for the multi-process tests: `python -m tests.generation.resumer_process ...`.

It runs the real pipeline (polling mode) against the given database and Kie emulator, appends one JSON line
per delivery to `--out`, and exits when no generation is left unfinished (or after `--max-seconds`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from decimal import Decimal
from pathlib import Path

from aistudio.billing.ledger import Ledger
from aistudio.catalog.loader import load_catalog
from aistudio.db.engine import create_engine
from aistudio.db.rawsql import RawDb, Sql
from aistudio.generation.context import Pipeline, PipelineSettings
from aistudio.generation.delivery import Failure, RecordingAlerts, ResultFile, ResultStore
from aistudio.generation.repo import Generation
from aistudio.generation.service import GenerationService
from aistudio.kie import InProcessLimiter, KieClient, KieGateway
from aistudio.pricing.free_tier import FreeLimits, FreeTier
from aistudio.pricing.fx import FxRate

UNFINISHED = Sql(
    "SELECT count(*) FROM generations WHERE state IN ('held', 'submitted', 'succeeded', 'downloaded', 'sending') "
    "OR (state = 'failed' AND next_check_at IS NOT NULL)"
)


class FileDelivery:
    """Appends each delivery as one line (O_APPEND: lines from several processes never interleave)."""

    def __init__(self, path: Path, worker: str) -> None:
        self.path = path
        self.worker = worker

    def _write(self, record: dict) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)

    async def deliver(self, gen: Generation, files: list[ResultFile]) -> list[dict[str, str]]:
        self._write({"event": "delivered", "generation": gen.id, "worker": self.worker, "pid": os.getpid()})
        return [{"file_id": f"proc-{gen.id}"}]

    async def fail(self, gen: Generation, failure: Failure) -> None:
        self._write({"event": "failed", "generation": gen.id, "worker": self.worker})

    async def progress(self, gen: Generation, state: str) -> None:
        return None

    async def unconfirmed(self, gen: Generation) -> None:
        self._write({"event": "unconfirmed", "generation": gen.id, "worker": self.worker})


async def main(args: argparse.Namespace) -> None:
    engine = create_engine(args.database_url, pool_size=5)
    client = KieClient(args.kie_key, base_url=args.kie_url, upload_base_url=args.kie_url, backoff_base=0.01)
    pipeline = Pipeline(
        db=RawDb(engine), ledger=Ledger(engine), catalog=load_catalog(), gateway=KieGateway(client),
        limiter=InProcessLimiter(1000, 10.0), free_tier=FreeTier(FreeLimits(5, 2, Decimal(1000))),
        delivery=FileDelivery(Path(args.out), args.worker), alerts=RecordingAlerts(),
        store=ResultStore(Path(args.results)),
        settings=PipelineSettings(poll_min_s=0.05, poll_max_s=0.2, lease_seconds=args.lease_seconds),
        worker_id=args.worker,
    )  # fmt: skip
    fx = FxRate(Decimal(95), "fallback", None)

    async def current_fx() -> FxRate:
        return fx

    service = GenerationService(pipeline, current_fx, worker_batch=args.batch)
    stop = asyncio.Event()
    loop = asyncio.create_task(service.run(stop))
    deadline = time.monotonic() + args.max_seconds
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            async with pipeline.db.reading() as conn:
                row = await conn.fetchrow(UNFINISHED)
            if row is not None and row[0] == 0:
                break
    finally:
        stop.set()
        await loop
        await service.drain()
        await client.aclose()
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--database-url", "--kie-url", "--kie-key", "--out", "--results", "--worker"):
        parser.add_argument(name, required=True)
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--go-file", help="touch <this>.ready-<worker> once set up; start when <this> exists")
    arguments = parser.parse_args()
    if arguments.go_file:  # start together with the other processes: say ready (imports done), wait for the word
        Path(arguments.go_file + f".ready-{arguments.worker}").touch()
        while not Path(arguments.go_file).exists():
            time.sleep(0.02)
    asyncio.run(main(arguments))
