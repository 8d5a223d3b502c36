"""Configuration of the Telegram Bot API emulator."""

from __future__ import annotations

from dataclasses import dataclass, field

# A well-formed token (bot id, colon, secret) so clients that parse the bot id out of it keep working.
DEFAULT_TOKEN = "7000000001:AAsandbox-emulator-token-0123456789ab"

MB = 1024 * 1024


@dataclass(slots=True)
class RateLimits:
    """Send-rate limits; Telegram answers 429 with ``retry_after`` when a bot exceeds them.

    Off by default so functional tests never trip over them; throttling tests switch them on.
    """

    enabled: bool = False
    per_chat_rate: float = 1.0  # messages per second in one private chat
    per_chat_burst: int = 3  # a short burst Telegram tolerates before 429
    global_rate: float = 30.0  # messages per second across all chats
    global_burst: int = 30
    count_edits: bool = True  # edits count against the per-chat budget too


@dataclass(slots=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour; defaults follow Telegram's published limits."""

    token: str = DEFAULT_TOKEN
    bot_first_name: str = "AI Studio Sandbox"
    bot_username: str = "aistudio_sandbox_bot"
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # The bot must answer a pre-checkout query within 10 s, a callback query within ~15 s.
    pre_checkout_timeout: float = 10.0
    callback_query_ttl: float = 15.0
    # Telegram demands HTTPS webhooks; a local sandbox bot listens on plain HTTP, so it is opt-in.
    webhook_require_https: bool = False
    webhook_retry_delay: float = 0.2
    max_text_length: int = 4096
    max_caption_length: int = 1024
    max_photo_upload: int = 10 * MB
    max_upload: int = 50 * MB
    max_photo_by_url: int = 5 * MB
    max_file_by_url: int = 20 * MB
    max_download: int = 20 * MB
    max_star_invoice_amount: int = 10_000
    # The call log is a ring buffer: a long demo must not grow memory without bound.
    call_log_size: int = 20_000

    @property
    def bot_id(self) -> int:
        """The numeric bot id, which Telegram encodes before the colon of the token."""
        head = self.token.split(":", 1)[0]
        return int(head) if head.isdigit() else 7000000001
