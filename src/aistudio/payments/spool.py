"""A durable local spool of payment updates: written before the database is touched, removed once recorded.

Telegram sends a `successful_payment` (or a `refunded_payment`) once; if the database is down when it arrives
and the update is acknowledged anyway, the money is lost to the books. So its essentials are first written to
`<dir>/<charge id>.json` (`.refund.json` for a refund): a temporary file, fsync'd, renamed into place, the
directory fsync'd. The file is removed once the payment is recorded in the database; a periodic job replays
what is left (`aistudio.telegram.payment_spool`), through the same idempotent, checked paths as the handler.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PAID = "paid"
REFUNDED = "refunded"
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class PaymentNotRecorded(Exception):
    """A payment update could not be recorded in the database (it is spooled when the disk allowed it).

    The webhook answers it with 5xx and leaves the update unmarked, so Telegram delivers it again.
    """

    redeliver = True


@dataclass(frozen=True)
class SpooledPayment:
    """What is needed to record a payment update again without Telegram."""

    kind: str  # paid | refunded
    update_id: int
    user_id: int
    charge_id: str  # telegram_payment_charge_id
    currency: str
    total_amount: int
    payload: str
    provider_charge_id: str = ""
    language_code: str | None = None
    spooled_at: float = field(default_factory=time.time)


def file_name(kind: str, charge_id: str) -> str:
    """A safe file name per (kind, charge id); unusual characters are replaced and a digest keeps it unique."""
    safe = _SAFE.sub("_", charge_id)[:100]
    if safe != charge_id or not safe:
        safe = f"{safe}-{hashlib.sha256(charge_id.encode()).hexdigest()[:12]}"
    return f"{safe}.json" if kind == PAID else f"{safe}.refund.json"


class PaymentSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, entry: SpooledPayment) -> Path:
        return self.directory / file_name(entry.kind, entry.charge_id)

    async def write(self, entry: SpooledPayment) -> bool:
        """Store `entry` durably; True when it was not spooled already (a first delivery)."""
        return await asyncio.to_thread(self._write, entry)

    async def remove(self, entry: SpooledPayment) -> None:
        await asyncio.to_thread(self._remove, entry)

    async def pending(self, *, older_than_s: float = 0.0) -> list[SpooledPayment]:
        """Spooled entries written at least `older_than_s` ago (younger ones are still being handled)."""
        return await asyncio.to_thread(self._pending, older_than_s)

    def _write(self, entry: SpooledPayment) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path_of(entry)
        new = not target.exists()
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(asdict(entry), f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
        _fsync_dir(self.directory)
        return new

    def _remove(self, entry: SpooledPayment) -> None:
        try:
            self.path_of(entry).unlink()
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)

    def _pending(self, older_than_s: float) -> list[SpooledPayment]:
        if not self.directory.is_dir():
            return []
        cutoff = time.time() - older_than_s
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                if path.stat().st_mtime > cutoff:
                    continue
                found.append(SpooledPayment(**json.loads(path.read_text(encoding="utf-8"))))
            except FileNotFoundError:  # recorded and removed meanwhile
                continue
            except (ValueError, TypeError):
                log.error("payment spool: unreadable file %s left for an admin", path)
        return found


def _fsync_dir(directory: Path) -> None:
    """Make the rename (or removal) itself durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
