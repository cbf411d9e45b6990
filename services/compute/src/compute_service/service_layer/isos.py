"""ISOs, read through from upstream.

Why not synced into a table like server types and images: the platform decides nothing about
ISOs (no price, no availability, no tenant's own), ``attach_iso`` resolves the ISO upstream by
name or id anyway, and upstream's list changes on its own (new releases, deprecations). A copy
would be a second truth with no owner. What a copy would buy — not spending upstream's rate
budget on public reads, and answering while upstream is down — the cache below gives: the list
is fetched at most once per ``ttl_seconds`` per process, whatever the traffic, and a stale list
is served (and logged) while upstream does not answer; only a cold cache with upstream down
answers UNAVAILABLE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from compute_service.domain.catalog import UpstreamIso
from compute_service.service_layer.ports import CatalogSource
from cpshared.errors import Unavailable
from cpshared.logging import get_logger

log = get_logger(__name__)

DEFAULT_TTL_SECONDS = 300.0


class IsoCatalog:
    def __init__(
        self,
        source: Callable[[], CatalogSource],
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._isos: list[UpstreamIso] | None = None
        self._fetched = 0.0

    def list(self) -> list[UpstreamIso]:
        with self._lock:  # one fetch at a time; the others wait for its answer
            now = self._monotonic()
            if self._isos is not None and now - self._fetched < self._ttl:
                return self._isos
            try:
                isos = self._source().isos()
            except Exception as exc:  # the hcloud client raises its own and requests' errors
                if self._isos is not None:
                    log.warning("isos_upstream_failed_serving_cached", error=str(exc))
                    return self._isos
                raise Unavailable(f"upstream did not answer the ISO list: {exc}") from exc
            self._isos, self._fetched = isos, now
            return isos
