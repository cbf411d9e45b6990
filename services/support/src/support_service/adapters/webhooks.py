"""Webhooks POSTed over HTTP(S) with httpx: a short timeout, no redirects followed (a redirect is
not a 2xx: a failed attempt), and — unless the settings allow it (a local stack, tests) — no
request to an address inside the platform (loopback, private, link-local, reserved: the URL's
host is resolved and every address checked before connecting)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from support_service.domain.webhooks import url_problem
from support_service.service_layer.ports import WebhookError


def _internal(host: str, port: int) -> str | None:
    """The first internal address ``host`` resolves to, or None."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise WebhookError(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return str(address)
    return None


class HttpWebhooks:
    def __init__(self, *, timeout_seconds: float = 10.0, allow_internal: bool = False) -> None:
        self._client = httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._allow_internal = allow_internal

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        problem = url_problem(url)
        if problem is not None:
            raise WebhookError(problem, final=True)
        parts = urlsplit(url)
        if not self._allow_internal:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            internal = _internal(parts.hostname or "", port)
            if internal is not None:
                raise WebhookError(f"{parts.hostname} is an internal address ({internal}): not called", final=True)
        try:
            answer = self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise WebhookError(f"POST {parts.scheme}://{parts.netloc} failed: {exc or type(exc).__name__}") from None
        if not 200 <= answer.status_code < 300:
            raise WebhookError(f"POST {parts.scheme}://{parts.netloc} answered HTTP {answer.status_code}")
        return answer.status_code

    def close(self) -> None:
        self._client.close()
