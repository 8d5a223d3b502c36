"""Kie.ai: the HTTP client, the per-family adapters, callbacks and the account-wide task limiter."""

from aistudio.kie.callbacks import (
    build_callback_url,
    callback_token,
    check_callback_token,
    parse_callback,
    sign_callback,
    verify_callback,
)
from aistudio.kie.client import KieClient
from aistudio.kie.errors import (
    KieAuthError,
    KieContentPolicy,
    KieError,
    KieFileTooLarge,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieInvalidInput,
    KieNotFound,
    KieRateLimited,
    KieSubmitUnknown,
    KieUnavailable,
    error_for,
)
from aistudio.kie.families import FamilyAdapter, KieGateway, adapter_for
from aistudio.kie.limiter import InProcessLimiter, TaskLimiter, make_limiter
from aistudio.kie.types import TaskState, TaskStatus, UploadedFile

__all__ = [
    "FamilyAdapter",
    "InProcessLimiter",
    "KieAuthError",
    "KieClient",
    "KieContentPolicy",
    "KieError",
    "KieFileTooLarge",
    "KieGateway",
    "KieGenerationFailed",
    "KieInsufficientCredits",
    "KieInvalidInput",
    "KieNotFound",
    "KieRateLimited",
    "KieSubmitUnknown",
    "KieUnavailable",
    "TaskLimiter",
    "TaskState",
    "TaskStatus",
    "UploadedFile",
    "adapter_for",
    "build_callback_url",
    "callback_token",
    "check_callback_token",
    "error_for",
    "make_limiter",
    "parse_callback",
    "sign_callback",
    "verify_callback",
]
