"""Injected faults: deterministic counters ("the next 2 create calls answer 429") and seeded rates.

Every fault kind has two knobs, per model or global: `<kind>_next` (the next N matching events get the
fault, then it stops) and `<kind>_rate` (probability per event, from a seeded RNG). A model's own rule is
consulted before the global one. Kinds:

answers to create requests (createTask and the family `generate` endpoints):
  rate_limit (code 429), server_error (HTTP 500), maintenance (code 455), insufficient_credits (402),
  malformed (task created, answer is broken JSON), slow (task created, answer held `slow_seconds`)
answers to status queries (recordInfo and family record endpoints):
  query_error (HTTP 500), query_malformed, query_slow
tasks, decided when the task is created:
  fail (ends in `fail` with `fail_code`, default 501), lose_callback (never sent),
  duplicate_callback (sent twice), early_callback (completed and called back before the create answer)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

CREATE_KINDS = ("rate_limit", "server_error", "maintenance", "insufficient_credits", "malformed", "slow")
QUERY_KINDS = ("query_error", "query_malformed", "query_slow")
TASK_KINDS = ("fail", "lose_callback", "duplicate_callback", "early_callback")
KINDS = CREATE_KINDS + QUERY_KINDS + TASK_KINDS

# Friendlier spellings accepted by POST /sandbox/faults.
_RATE_ALIASES = {"failure_rate": "fail_rate"}
_FLAG_ALIASES = {
    "lose_callbacks": "lose_callback",
    "lost_callbacks": "lose_callback",
    "duplicate_callbacks": "duplicate_callback",
    "early_callbacks": "early_callback",
}
GLOBAL = "*"


class FaultSpecError(ValueError):
    """A fault request the emulator does not understand; the message names the key."""


@dataclass
class FaultRule:
    """The faults of one model (or of every model, for the global rule)."""

    next: dict[str, int] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)
    fail_code: int = 501
    fail_message: str = "Generation failed (sandbox fault)"
    slow_seconds: float = 5.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **{f"{k}_next": v for k, v in self.next.items() if v},
            **{f"{k}_rate": v for k, v in self.rate.items() if v},
            "fail_code": self.fail_code,
            "fail_message": self.fail_message,
            "slow_seconds": self.slow_seconds,
        }


class Faults:
    """All fault rules plus the RNG for rates; `take(kind, model)` says whether an event is hit."""

    def __init__(self, seed: int | None = None) -> None:
        self.rules: dict[str, FaultRule] = {}
        self.rng = random.Random(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rules.clear()
        self.rng = random.Random(seed)

    def rule_for(self, model: str | None) -> FaultRule:
        """The rule deciding details (fail code, delay) for this model: its own, else the global one."""
        if model and model in self.rules:
            return self.rules[model]
        return self.rules.get(GLOBAL, FaultRule())

    def take(self, kind: str, model: str | None) -> bool:
        """Whether this event gets the fault; a hit on a `_next` counter uses it up."""
        for key in (model, GLOBAL) if model else (GLOBAL,):
            rule = self.rules.get(key)
            if rule is None:
                continue
            if rule.next.get(kind, 0) > 0:
                rule.next[kind] -= 1
                return True
            if kind in rule.rate:  # a model's own rate (even 0) overrides the global one
                rate = rule.rate[kind]
                return rate > 0 and self.rng.random() < rate
        return False

    def configure(self, spec: dict[str, Any]) -> FaultRule:
        """Merge a POST /sandbox/faults body into the rule of its `model` (or the global rule)."""
        spec = dict(spec)
        model = spec.pop("model", None) or GLOBAL
        if "seed" in spec:
            self.rng = random.Random(spec.pop("seed"))
        if spec.pop("clear", False):
            self.rules.pop(model, None)
        rule = self.rules.setdefault(model, FaultRule())
        for key, value in spec.items():
            self._apply(rule, key, value)
        return rule

    @staticmethod
    def _apply(rule: FaultRule, key: str, value: Any) -> None:
        key = _RATE_ALIASES.get(key, key)
        if key in _FLAG_ALIASES:
            rule.rate[_FLAG_ALIASES[key]] = 1.0 if value else 0.0
        elif key.endswith("_next") and key[: -len("_next")] in KINDS:
            rule.next[key[: -len("_next")]] = _number(key, value, int)
        elif key.endswith("_rate") and key[: -len("_rate")] in KINDS:
            rate = _number(key, value, float)
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"{key}: a rate is between 0 and 1")
            rule.rate[key[: -len("_rate")]] = rate
        elif key == "fail_code":
            rule.fail_code = _number(key, value, int)
        elif key == "fail_message":
            rule.fail_message = str(value)
        elif key == "slow_seconds":
            rule.slow_seconds = _number(key, value, float)
        else:
            raise FaultSpecError(f"{key}: unknown fault setting")

    def as_dict(self) -> dict[str, Any]:
        return {model: rule.as_dict() for model, rule in self.rules.items()}


def _number(key: str, value: Any, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool):
        raise FaultSpecError(f"{key}: expected a number")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{key}: expected a number") from None
    if number < 0:
        raise FaultSpecError(f"{key}: must not be negative")
    return number
