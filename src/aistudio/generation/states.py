"""Generation states and the error classes users are told about.

    held ──► submitted ──► succeeded ──► downloaded ──► sending ──► completed
      │          │              │             │
      └──────────┴──────────────┴─────────────┴──► failed (hold released, user told)

A `failed` generation that timed out keeps its task id: a late success is still delivered, free.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    HELD = "held"  # money held (or free use reserved), row written; Kie not called yet or outcome unknown
    SUBMITTED = "submitted"  # Kie task id stored; waiting for a callback or a poll
    SUCCEEDED = "succeeded"  # Kie reported success; result URLs stored
    DOWNLOADED = "downloaded"  # result files fetched and stored for (re-)sending
    SENDING = "sending"  # the delivery started; never started twice
    COMPLETED = "completed"  # delivered and charged (or free)
    FAILED = "failed"  # not delivered; hold released


ACTIVE = (State.HELD, State.SUBMITTED, State.SUCCEEDED, State.DOWNLOADED, State.SENDING)
TERMINAL = (State.COMPLETED, State.FAILED)


class ErrorClass(StrEnum):
    """Why a generation failed; each maps to one message in the locale files (`generation.error.*`)."""

    INVALID_INPUT = "invalid_input"  # Kie refused a parameter: tell the user what to change
    CONTENT_POLICY = "content_policy"  # moderation refused the prompt or image
    UNAVAILABLE = "unavailable"  # operator's Kie account out of credits: "temporarily unavailable"
    UPSTREAM = "upstream"  # Kie down, maintenance or rate limits that outlasted our retries
    GENERATION_FAILED = "generation_failed"  # the model ran and failed
    TIMED_OUT = "timed_out"  # no result within the model's time limit
    SUBMIT_UNKNOWN = "submit_unknown"  # a crash or network loss hid whether Kie accepted the task
    DELIVERY_FAILED = "delivery_failed"  # the result could not be fetched or sent
