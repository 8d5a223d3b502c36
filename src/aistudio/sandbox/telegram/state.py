"""In-memory state of the emulated Telegram: users, private chats, messages, queries, payments, call log.

Message data are kept as the exact Bot API ``Message`` JSON the bot received. A stored dict is never
mutated after it has been handed out (edits replace it), so the call log can keep references safely.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import EmulatorConfig


@dataclass(slots=True)
class SandboxUser:
    """A Telegram user driven through the control API."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.is_premium:
            data["is_premium"] = True
        return data

    def chat_api(self) -> dict[str, Any]:
        """The Bot API ``Chat`` object of this user's private chat with the bot."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        return data


@dataclass(slots=True)
class InvoiceInfo:
    """What the bot put in an invoice (sendInvoice or createInvoiceLink)."""

    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    provider_token: str = ""
    start_parameter: str = ""
    subscription_period: int | None = None
    photo_url: str | None = None

    @property
    def total_amount(self) -> int:
        """Sum of the price items, in the smallest units of the currency (whole Stars for XTR)."""
        return sum(int(p["amount"]) for p in self.prices)

    def to_api(self) -> dict[str, Any]:
        """The Bot API ``Invoice`` object shown in a message."""
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass(slots=True)
class StoredMessage:
    """One message of a private chat, in either direction."""

    message_id: int
    outgoing: bool  # True when the bot sent it
    data: dict[str, Any]
    version: int
    deleted: bool = False
    reply_keyboard: dict[str, Any] | None = None  # Telegram does not echo reply keyboards in Message
    invoice: InvoiceInfo | None = None
    paid: bool = False

    @property
    def direction(self) -> Literal["in", "out"]:
        """``in`` = from the user to the bot, ``out`` = sent by the bot."""
        return "out" if self.outgoing else "in"


@dataclass(slots=True)
class Chat:
    """A private chat between one user and the bot."""

    user: SandboxUser
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    menu_button: dict[str, Any] | None = None
    action: str | None = None
    action_until: float = 0.0
    version: int = 0
    blocked: bool = False

    @property
    def id(self) -> int:
        """Private chat ids equal the user id in Telegram."""
        return self.user.id

    def current_action(self) -> str | None:
        """The chat action shown now; Telegram clears it after 5 s or when the bot sends a message."""
        if self.action and time.monotonic() < self.action_until:
            return self.action
        return None


@dataclass(slots=True)
class CallbackQueryState:
    """A button press waiting for (or answered by) answerCallbackQuery."""

    id: str
    chat_id: int
    message_id: int
    data: str
    created: float
    answered: bool = False
    answer: dict[str, Any] | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class PreCheckoutState:
    """A pre-checkout query waiting for answerPreCheckoutQuery."""

    id: str
    chat_id: int
    invoice: InvoiceInfo
    created: float
    answer: dict[str, Any] | None = None
    expired: bool = False
    event: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class Charge:
    """A successful payment, refundable once with refundStarPayment."""

    id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    refunded: bool = False


@dataclass(slots=True)
class CallRecord:
    """One Bot API call as the emulator saw it."""

    seq: int
    at: float
    method: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form used by ``GET /sandbox/calls``."""
        data: dict[str, Any] = {"seq": self.seq, "at": self.at, "method": self.method, "params": self.params}
        data["ok"] = self.ok
        if self.ok:
            data["result"] = self.result
        else:
            data["error"] = self.error
        return data


class Notifier:
    """A version counter with waiters, so tests and the web chat wait on conditions, never on sleeps."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._waiters: list[asyncio.Future[None]] = []
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    def bump(self, chat_id: int | None = None) -> int:
        """Record a visible change (in ``chat_id`` if given) and wake everybody waiting."""
        self.version += 1
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if self._subscribers:
            event = {"version": self.version, "chat_id": chat_id}
            for queue in self._subscribers:
                if queue.qsize() < 1000:  # a stalled SSE client must not grow memory
                    queue.put_nowait(event)
        return self.version

    async def wait_for(self, predicate: Any, seconds: float) -> bool:
        """Wait until ``predicate()`` is true or ``seconds`` pass; return the predicate's value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not predicate():
            if self.closed:
                return False
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                return bool(predicate())
        return True

    def close(self) -> None:
        """Release every waiter and end every event stream (server shutdown)."""
        self.closed = True
        self.bump()
        for queue in self._subscribers:
            queue.put_nowait({"closed": True})

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue receiving ``{"version", "chat_id"}`` for every change (used by the SSE endpoint)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop delivering events to ``queue``."""
        self._subscribers.discard(queue)


class SandboxState:
    """Users, chats, messages, queries, payments and the call log of one emulated bot."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.notifier = Notifier()
        self.bot_user: dict[str, Any] = {
            "id": config.bot_id,
            "is_bot": True,
            "first_name": config.bot_first_name,
            "username": config.bot_username,
        }
        # Bot settings survive a reset: they belong to the bot, not to a test's users.
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self._seq = itertools.count(1)
        self.calls: deque[CallRecord] = deque(maxlen=config.call_log_size)
        self.reset()

    def reset(self) -> None:
        """Forget users, chats, messages, queries, payments and the call log."""
        self.chats: dict[int, Chat] = {}
        self.callbacks: dict[str, CallbackQueryState] = {}
        self.pre_checkouts: dict[str, PreCheckoutState] = {}
        self.charges: dict[str, Charge] = {}
        self.invoice_links: dict[str, InvoiceInfo] = {}
        self.calls.clear()
        self.notifier.bump()

    # --- users and chats -------------------------------------------------------------------------

    def upsert_user(self, user: SandboxUser) -> tuple[Chat, bool]:
        """Create the user's chat or update the profile; return (chat, created)."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = Chat(user=user)
            self.chats[user.id] = chat
            created = True
        else:
            chat.user = user
            created = False
        chat.version = self.notifier.bump(user.id)
        return chat, created

    def next_user_id(self) -> int:
        """A fresh user id for users created without one."""
        return max([100000000, *self.chats]) + 1

    # --- messages --------------------------------------------------------------------------------

    def add_message(
        self,
        chat: Chat,
        *,
        outgoing: bool,
        content: dict[str, Any],
        reply_keyboard: dict[str, Any] | None = None,
        invoice: InvoiceInfo | None = None,
    ) -> StoredMessage:
        """Append a message to ``chat``; ids are shared by both directions, as in Telegram."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        data: dict[str, Any] = {
            "message_id": message_id,
            "from": self.bot_user if outgoing else chat.user.to_api(),
            "chat": chat.user.chat_api(),
            "date": int(time.time()),
        }
        data.update(content)
        if outgoing:
            chat.action = None  # Telegram clears the "typing…" status when the bot's message arrives
        version = self.notifier.bump(chat.id)
        chat.version = version
        stored = StoredMessage(message_id, outgoing, data, version, reply_keyboard=reply_keyboard, invoice=invoice)
        chat.messages[message_id] = stored
        return stored

    def replace_message(self, chat: Chat, stored: StoredMessage, data: dict[str, Any]) -> None:
        """Swap in a new snapshot of a message (an edit) and notify waiters."""
        stored.data = data
        stored.version = chat.version = self.notifier.bump(chat.id)

    def delete_message(self, chat: Chat, stored: StoredMessage) -> None:
        """Mark a message deleted; the transcript still shows it, flagged."""
        stored.deleted = True
        stored.version = chat.version = self.notifier.bump(chat.id)

    def touch(self, chat: Chat) -> None:
        """Record a change in ``chat`` that is not a message (chat action, keyboard, answer)."""
        chat.version = self.notifier.bump(chat.id)

    # --- queries and payments --------------------------------------------------------------------

    def new_callback(self, chat: Chat, message_id: int, data: str) -> CallbackQueryState:
        """Register a button press; its id is what the bot passes to answerCallbackQuery."""
        query = CallbackQueryState(str(secrets.randbits(62)), chat.id, message_id, data, time.monotonic())
        self.callbacks[query.id] = query
        return query

    def new_pre_checkout(self, chat: Chat, invoice: InvoiceInfo) -> PreCheckoutState:
        """Register a pre-checkout query the bot must answer within the configured timeout."""
        query = PreCheckoutState(str(secrets.randbits(62)), chat.id, invoice, time.monotonic())
        self.pre_checkouts[query.id] = query
        return query

    def new_charge(self, user_id: int, invoice: InvoiceInfo) -> Charge:
        """Record a payment; Star charge ids look like Telegram's (``stx`` prefix)."""
        prefix = "stx" if invoice.currency == "XTR" else "tpc"
        charge = Charge(
            f"{prefix}{secrets.token_urlsafe(24)}",
            user_id,
            invoice.currency,
            invoice.total_amount,
            invoice.payload,
        )
        self.charges[charge.id] = charge
        return charge

    # --- call log --------------------------------------------------------------------------------

    def record_call(
        self, method: str, params: dict[str, Any], *, result: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        """Append one Bot API call to the ring-buffer log."""
        self.calls.append(CallRecord(next(self._seq), time.time(), method, params, error is None, result, error))
