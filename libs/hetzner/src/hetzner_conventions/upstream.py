"""Calling Hetzner Cloud (or the simulator) as a client, through the ``hcloud`` library: what is
worth retrying, and the one retry policy every service's upstream adapter wraps its calls in.

Transient failures (5xx, 429, timeouts, dropped connections, and the codes Hetzner documents as
"try again": ``rate_limit_exceeded``, ``server_error``, ``locked`` …) are retried with tenacity's
exponential backoff; hcloud's own retries are switched off by :func:`client` so that this is the
one retry policy (hcloud would resend a timed-out POST without looking for what the first one
made). A lasting transient failure is :class:`~cpshared.errors.Unavailable`; what retrying
cannot fix is handed to ``refused(code, message)``, the caller's own exception (its domain's
"upstream failure").

Every resource the platform makes upstream carries a label naming the platform's id
(``cp_server_id``, ``cp_volume_id`` …): that label, not a remembered upstream id, is how a
worker finds what it made, so one that died between "upstream made it" and "we recorded it"
finds it again instead of making a second one.

Needs the ``client`` extra (``hcloud``, ``requests``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from hcloud import APIException, Client
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from cpshared.errors import Unavailable

T = TypeVar("T")

SERVER_LABEL = "cp_server_id"
"""The label of an upstream server: the platform's server id."""

TRANSIENT_CODES = frozenset(
    {
        "rate_limit_exceeded",
        "server_error",
        "service_error",
        "unavailable",
        "timeout",
        "conflict",
        "locked",
        "bad_gateway",
        "resource_unavailable",
        "maintenance",
    }
)


def transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` may succeed."""
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, APIException):
        if isinstance(exc.code, int):
            return exc.code == 429 or exc.code >= 500
        return exc.code in TRANSIENT_CODES
    return False


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    initial_seconds: float = 0.5
    max_seconds: float = 20.0


def client(endpoint: str, token: str, application: str, *, timeout: float = 10.0) -> Client:
    """An hcloud client with its own retries off (:func:`call` is the one retry policy)."""
    made = Client(token=token, api_endpoint=endpoint, application_name=application, timeout=timeout, poll_interval=0.2)
    made._client._retry_max_retries = 0
    return made


def call(what: str, fn: Callable[[], T], retry: RetryPolicy, refused: Callable[[str, str], Exception]) -> T:
    """``fn`` with transient failures retried; a lasting one is Unavailable, a refusal ``refused(code, message)``."""
    try:
        for attempt in Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(retry.attempts),
            wait=wait_exponential(multiplier=retry.initial_seconds, max=retry.max_seconds),
            reraise=True,
        ):
            with attempt:
                return fn()
    except APIException as exc:
        if transient(exc):
            raise Unavailable(f"upstream kept failing to {what}: {exc.code}: {exc.message}") from exc
        raise refused(str(exc.code), str(exc.message)) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise Unavailable(f"upstream did not answer to {what}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover - Retrying returns or raises


def wait(
    hcloud: Client,
    action_id: int,
    retry: RetryPolicy,
    refused: Callable[[str, str], Exception],
    *,
    poll_seconds: float = 0.2,
    limit_seconds: float = 600.0,
) -> None:
    """Until upstream's action ``action_id`` (0: none) has finished; ``refused(code, message)``
    when it ended in error, Unavailable when it outlasts ``limit_seconds``."""
    if not action_id:
        return
    deadline = time.monotonic() + limit_seconds
    while True:
        action = call("read an action", lambda: hcloud.actions.get_by_id(action_id), retry, refused)
        if action.status == "success":
            return
        if action.status == "error":
            error = action.error or {"code": "action_failed", "message": ""}
            raise refused(str(error.get("code", "action_failed")), str(error.get("message", "")))
        if time.monotonic() > deadline:
            raise Unavailable(f"upstream action {action_id} did not finish within {limit_seconds:.0f} s")
        time.sleep(poll_seconds)
