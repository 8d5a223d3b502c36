"""One process of the bank test: random ledger operations, many at a time, every outcome written down.

    python -m tests.ops.ledger_worker --database-url URL --seed 1 --ops 2600 --out outcomes-1.jsonl

Every operation is derived from its key alone (`hold:17` always holds the same amount from the same wallet,
`cap:17` always captures the same part of `hold:17`), and keys are drawn from a small space, so keys are
used again and again. Whatever the ledger answers for a key, every caller must get that same answer.

Top-up keys are shared by all processes and used concurrently (a payment notification delivered twice at
once). The other keys belong to one process each, which never runs two calls with the same key at the same
moment (those races have their own test, `test_concurrent_calls_with_one_key_get_one_outcome`), so that
what this run checks — the books, the outcomes of keys used again later — fails only for a real reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

from aistudio.billing.accounts import Operator
from aistudio.billing.errors import LedgerError
from aistudio.billing.ledger import Ledger
from aistudio.db.engine import create_engine

FIRST_USER = 70_000
KINDS = ["topup", "hold", "capture", "release", "debit", "adjust"]
WEIGHTS = [22, 26, 16, 12, 12, 12]


def user_of(n: int, users: int) -> int:
    return FIRST_USER + n % users


def hold_amount(n: int) -> int:
    return 50 + (n * 53) % 3000


async def run_op(ledger: Ledger, kind: str, n: int, users: int) -> dict[str, Any]:
    user = user_of(n, users)
    if kind == "topup":
        key, call = f"top:{n}", ledger.credit(f"top:{n}", user, 100 + (n * 37) % 5000, Operator.TOPUPS_MANUAL)
    elif kind == "hold":
        key, call = f"hold:{n}", ledger.hold(f"hold:{n}", user, hold_amount(n))
    elif kind == "capture":
        amount = None if n % 3 == 0 else hold_amount(n) * (n % 4 + 1) // 4
        key, call = f"cap:{n}", ledger.capture(f"cap:{n}", f"hold:{n}", amount)
    elif kind == "release":
        key, call = f"rel:{n}", ledger.release(f"rel:{n}", f"hold:{n}", reason="bank test")
    elif kind == "debit":  # one in ten asks for more than any wallet ever holds: refused, every time
        amount = 10**9 if n % 10 == 0 else 30 + (n * 29) % 2000
        key, call = f"deb:{n}", ledger.debit(f"deb:{n}", user, amount, Operator.TOPUPS_MANUAL)
    else:
        delta = (10 + (n * 17) % 1500) * (1 if n % 2 else -1)
        key, call = f"adj:{n}", ledger.adjust(f"adj:{n}", user, delta, admin_id=1, reason="bank test")
    try:
        result = await call
    except LedgerError as exc:
        return {"key": key, "kind": kind, "ok": False, "error": exc.code}
    return {"key": key, "kind": kind, "ok": True, "id": result.transfer_id, "amount": result.amount}


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, required=True, help="also this process's index")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--ops", type=int, default=2600)
    parser.add_argument("--users", type=int, default=12)
    parser.add_argument("--keyspace", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    plan = []
    for _ in range(args.ops):
        kind = rng.choices(KINDS, WEIGHTS)[0]
        n = rng.randrange(args.keyspace)
        if kind != "topup":  # this process's own keys: n ≡ seed (mod processes)
            n = n - n % args.processes + args.seed
        plan.append((kind, n))
    key_locks: dict[tuple[str, int], asyncio.Lock] = {}
    engine = create_engine(args.database_url, pool_size=args.concurrency)
    ledger = Ledger(engine)
    slots = asyncio.Semaphore(args.concurrency)
    outcomes: list[dict[str, Any]] = []
    failures: list[str] = []

    async def one(kind: str, n: int) -> None:
        lock = key_locks.setdefault((kind, n), asyncio.Lock()) if kind != "topup" else None
        async with slots:
            try:
                if lock is None:
                    outcomes.append(await run_op(ledger, kind, n, args.users))
                else:
                    async with lock:
                        outcomes.append(await run_op(ledger, kind, n, args.users))
            except Exception as exc:  # anything but a ledger answer is a failure of the test subject
                failures.append(f"{kind}:{n}: {exc!r}")

    try:
        await asyncio.gather(*(one(kind, n) for kind, n in plan))
    finally:
        await engine.dispose()
    Path(args.out).write_text("".join(json.dumps(outcome) + "\n" for outcome in outcomes))  # noqa: ASYNC240
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
