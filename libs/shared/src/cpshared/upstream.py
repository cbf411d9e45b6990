"""Calling upstream (Hetzner Cloud, or the simulator) through the real ``hcloud`` client: what
every service that drives upstream shares.

- :func:`hcloud_client`: a client whose own retries are off, so that :func:`call_upstream` is the
  one retry policy (hcloud would resend a timed-out POST without looking for what the first made);
- :func:`call_upstream`: transient failures (5xx, 429, timeouts, dropped connections) retried
  with tenacity's exponential backoff; a lasting one is :class:`~cpshared.errors.Unavailable`,
  a refusal the caller's own failure (upstream's code and message);
- :func:`read_token`: the token file, read when a client is made;
- the labels that name the platform's id on upstream resources (``cp_<kind>_id``): every service
  finds what it made upstream by them, and a service finds another's servers by
  :data:`SERVER_LABEL` (compute labels every upstream server with its platform id).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import requests
from hcloud import APIException, Client
from prometheus_client import Counter
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from cpshared.errors import Unavailable

T = TypeVar("T")

SERVER_LABEL: Final = "cp_server_id"
"""The label compute puts on every upstream server: the platform's server id."""

IMAGE_LABEL: Final = "cp_image_id"
"""The label compute puts on every image it makes upstream (``create_image``): the platform's
image id. A backup image without it is one of upstream's automated daily backups."""

TRANSIENT_CODES: Final = frozenset(
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
    """Whether retrying may help: a dropped connection, a timeout, 429, 5xx or a transient code."""
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


def read_token(token_file: str) -> str:
    if not token_file:
        raise Unavailable("no upstream token: set CP_HCLOUD_TOKEN_FILE to a file holding the Hetzner API token")
    try:
        token = Path(token_file).read_text().strip()
    except OSError as exc:
        raise Unavailable(f"CP_HCLOUD_TOKEN_FILE {token_file}: cannot read the upstream token: {exc}") from exc
    if not token:
        raise Unavailable(f"CP_HCLOUD_TOKEN_FILE {token_file} is empty")
    return token


def hcloud_client(endpoint: str, token: str, application: str, *, timeout: float = 10.0) -> Client:
    """An hcloud client with its own retries switched off (:func:`call_upstream` retries)."""
    client = Client(
        token=token, api_endpoint=endpoint, application_name=application, timeout=timeout, poll_interval=0.2
    )
    client._client._retry_max_retries = 0
    return client


UPSTREAM_CALLS = Counter(
    "upstream_calls_total",
    "Calls to upstream (hcloud) by outcome: ok, refused, unavailable (after retries).",
    ["outcome"],
)


def call_upstream(what: str, call: Callable[[], T], retry: RetryPolicy, refused: Callable[[str, str], Exception]) -> T:
    """``call`` with transient failures retried; a lasting one is Unavailable, a refusal
    ``refused(code, message)`` (the caller's permanent failure). Each call is counted in
    ``upstream_calls_total{outcome}`` (ok, refused, unavailable)."""
    try:
        for attempt in Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(retry.attempts),
            wait=wait_exponential(multiplier=retry.initial_seconds, max=retry.max_seconds),
            reraise=True,
        ):
            with attempt:
                answer = call()
                UPSTREAM_CALLS.labels("ok").inc()
                return answer
    except APIException as exc:
        if transient(exc):
            UPSTREAM_CALLS.labels("unavailable").inc()
            raise Unavailable(f"upstream kept failing to {what}: {exc.code}: {exc.message}") from exc
        UPSTREAM_CALLS.labels("refused").inc()
        raise refused(str(exc.code), str(exc.message)) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        UPSTREAM_CALLS.labels("unavailable").inc()
        raise Unavailable(f"upstream did not answer to {what}: {exc}") from exc
    raise AssertionError("unreachable")  # pragma: no cover - Retrying returns or raises


def wait_for_action(
    client: Client,
    action_id: int,
    retry: RetryPolicy,
    refused: Callable[[str, str], Exception],
    *,
    poll_seconds: float = 0.2,
    limit_seconds: float = 600.0,
) -> None:
    """Until upstream's action ``action_id`` has finished (0: nothing to wait for); ``refused``
    with upstream's error when it ended in error, Unavailable when it outlasts ``limit_seconds``."""
    if not action_id:
        return
    deadline = time.monotonic() + limit_seconds
    while True:
        action = call_upstream("read an action", lambda: client.actions.get_by_id(action_id), retry, refused)
        if action.status == "success":
            return
        if action.status == "error":
            error = action.error or {"code": "action_failed", "message": ""}
            raise refused(str(error.get("code", "action_failed")), str(error.get("message", "")))
        if time.monotonic() > deadline:
            raise Unavailable(f"upstream action {action_id} did not finish within {limit_seconds:.0f} s")
        time.sleep(poll_seconds)
