"""Kie on the wire: an answer's envelope read into data or a typed error, a failed request classified as
"never sent" or "outcome unknown", and the HTTP transport the client runs on."""

from __future__ import annotations

import json
from typing import Any
from urllib.request import getproxies

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from aistudio.kie.errors import KieError, KieSubmitUnknown, KieUnavailable, error_for

# Errors raised before any byte reached Kie: a create request failing this way created nothing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def read_envelope(response: httpx.Response, *, submit: bool) -> Any:
    """Return `data` when the body says code 200; otherwise raise the typed error."""
    status = response.status_code
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "code" not in body:
        snippet = response.text[:200] if response.content else ""
        if status in (401, 402, 404, 429):
            raise error_for(status, snippet or response.reason_phrase)
        if submit and (response.is_success or status == 504):
            # Kie may have created the task and then a proxy mangled the answer.
            raise KieSubmitUnknown(status, f"unreadable answer to a create request: {snippet!r}")
        raise KieUnavailable(status, f"unreadable answer (HTTP {status}): {snippet!r}")
    code = body.get("code")
    if str(code) == "200":
        return body.get("data")
    message = body.get("msg") or body.get("message") or ""
    raise error_for(code, str(message))


def _never_sent(exc: Exception) -> bool:
    """True only when the request provably never reached Kie.

    The aiohttp transport reports every aiohttp connection error as `ConnectTimeout`, including a server that
    hung up after reading the request; its cause tells the two apart: only a failed connect proves nothing left.
    """
    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if isinstance(cause, aiohttp.ClientError | TimeoutError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return isinstance(exc, _NOT_SENT)


def transport_error(exc: Exception, *, submit: bool) -> KieError:
    if submit and not _never_sent(exc):
        return KieSubmitUnknown(None, f"create request outcome unknown: {type(exc).__name__}: {exc}")
    return KieUnavailable(None, f"network error: {type(exc).__name__}: {exc}")


def default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """aiohttp's pool under httpx; None (httpx's own, which reads HTTP(S)_PROXY) when the environment names
    a proxy, since only httpx's transport honours it."""
    if any(scheme in getproxies() for scheme in ("http", "https", "all")):
        return None
    return AiohttpTransport(limits=limits)
