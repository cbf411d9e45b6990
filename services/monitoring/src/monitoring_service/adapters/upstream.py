"""Upstream's (Hetzner's, or the simulator's) metrics of a server through the real ``hcloud``
client, with transient failures (connection, timeout, 429, 5xx) retried a few times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from hcloud import APIException, Client
from hcloud.servers import BoundServer
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from cpshared.errors import Unavailable
from monitoring_service.service_layer.ports import UpstreamGone, UpstreamMetrics, UpstreamPoint, UpstreamUnavailable

APPLICATION = "cloudplatform-monitoring"
SERVER_LABEL = "cp_server_id"
"""The label compute puts on every server it creates upstream: the platform's server id."""
TRANSIENT_CODES = {"rate_limit_exceeded", "timeout", "server_error", "service_error", "maintenance", "unavailable"}


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


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, APIException):
        if isinstance(exc.code, int):
            return exc.code == 429 or exc.code >= 500
        return exc.code in TRANSIENT_CODES
    return False


class HcloudMetrics(UpstreamMetrics):
    def __init__(self, endpoint: str, token: str, *, timeout: float = 10.0, attempts: int = 3) -> None:
        self.client = Client(token=token, api_endpoint=endpoint, application_name=APPLICATION, timeout=timeout)
        self.client._client._retry_max_retries = 0  # tenacity below is the one retry policy
        self.attempts = attempts

    def server_metrics(
        self, upstream_id: int, types: Sequence[str], start: datetime, end: datetime, step: int
    ) -> dict[str, list[UpstreamPoint]]:
        kinds: Any = list(types)
        server = BoundServer(self.client.servers, {"id": upstream_id})
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_transient),
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.2, max=5.0),
                reraise=True,
            ):
                with attempt:
                    metrics = self.client.servers.get_metrics(
                        server, type=kinds, start=start, end=end, step=step
                    ).metrics
        except APIException as exc:
            if exc.code == "not_found":
                raise UpstreamGone(f"upstream server {upstream_id} does not exist") from exc
            raise UpstreamUnavailable(
                f"upstream refused the metrics of {upstream_id}: {exc.code}: {exc.message}"
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise UpstreamUnavailable(f"upstream did not answer: {exc}") from exc
        return {
            name: [
                UpstreamPoint(datetime.fromtimestamp(float(at), UTC), str(value))
                for at, value in series.get("values", [])
            ]
            for name, series in metrics.time_series.items()
        }

    def labelled_servers(self) -> dict[int, int]:
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_transient),
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.2, max=5.0),
                reraise=True,
            ):
                with attempt:
                    found = self.client.servers.get_all(label_selector=SERVER_LABEL)
        except (APIException, requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise UpstreamUnavailable(f"upstream did not list its servers: {exc}") from exc
        ids: dict[int, int] = {}
        for server in found:
            raw = (server.labels or {}).get(SERVER_LABEL, "")
            if raw.isdigit() and server.id is not None:
                ids.setdefault(int(raw), int(server.id))
        return ids
