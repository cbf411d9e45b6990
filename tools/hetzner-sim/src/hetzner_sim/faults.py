"""Fault injection and the per-project rate limit.

A :class:`FaultRule` matches requests by method and path pattern (``fnmatch``, e.g.
``/v1/servers/*/actions/poweroff``) and fires with probability ``rate`` for at most ``times``
requests (None: for ever). Kinds:

``error``         answer ``status``/``code`` at once, nothing changes;
``rate_limit``    answer 429 ``rate_limit_exceeded`` with RateLimit headers (remaining 0);
``latency``       wait ``seconds``, then serve the request;
``timeout``       hang ``seconds`` (longer than the client's timeout), then answer 504 ``timeout``
                  without serving it;
``action_error``  serve the request, but the action it starts ends in ``error`` with
                  ``code``/``message`` (and its effect does not apply);
``drop``          serve the request (the state changes), then answer 502 without a body
                  (``mode: "502"``) or cut the connection mid-answer (``mode: "close"``).
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

FaultKind = Literal["error", "rate_limit", "latency", "timeout", "action_error", "drop"]


class FaultRule(BaseModel):
    id: int | None = None
    method: str = Field(default="*", description="HTTP method, or * for every method.")
    path: str = Field(default="/v1/*", description="fnmatch pattern over the request path.")
    kind: FaultKind = "error"
    rate: float = Field(default=1.0, ge=0, le=1, description="Probability that a matching request is hit.")
    times: int | None = Field(default=None, ge=0, description="Fire at most this many times (None: no limit).")
    status: int | None = Field(default=None, description="HTTP status of an `error` (default: the code's).")
    code: str = "service_error"
    message: str = "injected fault"
    seconds: float = Field(default=0.0, ge=0, description="latency: added delay; timeout: how long to hang.")
    mode: Literal["502", "close"] = "502"
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method.upper()) and fnmatch.fnmatchcase(path, self.path)


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> FaultRule:
        rule = rule.model_copy(update={"id": next(self._ids), "fired": 0})
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, method: str, path: str) -> list[FaultRule]:
        """The rules that fire for this request (each counted), in the order they were added."""
        fired = []
        for rule in self.rules:
            if not rule.matches(method, path):
                continue
            if rule.times is not None and rule.fired >= rule.times:
                continue
            if rule.rate < 1 and self._random.random() >= rule.rate:
                continue
            rule.fired += 1
            fired.append(rule)
        return fired


@dataclass
class Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Hetzner's limit: a bucket of ``limit`` requests per project, refilled ``refill`` per second."""

    buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, project: str, now: float, limit: int, refill: float) -> tuple[bool, dict[str, str]]:
        bucket = self.buckets.setdefault(project, Bucket(float(limit), now))
        bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * refill)
        bucket.updated = now
        allowed = bucket.tokens >= 1
        if allowed:
            bucket.tokens -= 1
        return allowed, headers(limit, int(bucket.tokens), now + (limit - bucket.tokens) / refill)

    def clear(self) -> None:
        self.buckets.clear()


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(math.ceil(reset)),
    }
