"""Tests control time: a test that depends on "now" installs a ManualClock at a fixed instant.

Nothing a test asserts may depend on the machine's calendar (`make test-calendar` runs the
suites with the clock faked at awkward instants to prove it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from cpshared.clock import ManualClock, set_clock


@contextmanager
def installed_clock(start: datetime) -> Iterator[ManualClock]:
    """A ManualClock at ``start`` installed process-wide for the block, the previous one restored."""
    clock = ManualClock(start)
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)
