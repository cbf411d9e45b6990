"""What compute's aggregates share: they record what happened to them, as plain values, and the
unit of work turns those into the contract's events (cloudplatform.compute.v1) when it commits.
The mechanism is every service's (:mod:`cpshared.aggregate`)."""

from __future__ import annotations

from cpshared.aggregate import Aggregate, Recorded

__all__ = ["Aggregate", "Recorded"]
