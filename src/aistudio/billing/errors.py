"""Ledger errors as types; each maps to one user message elsewhere."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class. `code` is stored for a rejected key so its outcome never changes."""

    code = "ledger_error"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"

    def __init__(self, amount: int, available: int) -> None:
        self.amount = amount
        self.available = available
        self.shortfall = max(0, amount - available)
        super().__init__(f"need {amount} kopecks, {available} available, short by {self.shortfall}")


class HoldNotFound(LedgerError):
    code = "hold_not_found"


class HoldAlreadyResolved(LedgerError):
    code = "hold_resolved"


class CaptureExceedsHold(LedgerError):
    code = "capture_exceeds_hold"


class IdempotencyConflict(LedgerError):
    """The key was used before for a different operation or amount."""

    code = "idempotency_conflict"


class UnknownAccount(LedgerError):
    code = "unknown_account"


def error_from_code(code: str, amount: int, shortfall: int) -> LedgerError:
    """Rebuild the remembered outcome of a rejected key."""
    if code == InsufficientFunds.code:
        return InsufficientFunds(amount, amount - shortfall)
    for cls in (HoldNotFound, HoldAlreadyResolved, CaptureExceedsHold, UnknownAccount):
        if cls.code == code:
            return cls(f"remembered outcome: {code}")
    return LedgerError(code)
