"""`make test-calendar`: the calendar-sensitive suites run with the machine's clock faked.

Each suite runs once per awkward instant under libfaketime (Debian's `faketime` package,
installed here when missing), preloaded into pytest and every process it starts (relays,
consumers, workers), with the time running on from the instant — so a run straddles the
boundary. MariaDB and Kafka keep the real time, as they would in production next to a
service whose clock is right. A test that reads the real calendar and asserts on a month,
a year, a weekday, a period or an expiry fails at one of them.

    python -m tests.calendar [--instant NAME ...] [--suite PATH ...] [-- PYTEST ARGS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.faketime import faked_environment, prepare_preload

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Instant:
    name: str
    local_time: str  # as libfaketime reads it: in the zone below
    zone: str
    why: str


# The instants lie before the real time: the broker keeps the real clock, and Kafka 4 refuses a
# record stamped more than an hour ahead of it (log.message.timestamp.after.max.ms), while one
# stamped in the past is accepted.
INSTANTS = (
    Instant("month-end", "2026-11-30 23:59:30", "UTC", "the last 30 s of a month"),
    Instant("year-end", "2025-12-31 23:59:30", "UTC", "the last 30 s of a year"),
    Instant("leap-day", "2024-02-29 23:59:30", "UTC", "29 February of a leap year, its last 30 s"),
    Instant(
        "dst-end",
        "2026-10-25 23:59:30",
        "Europe/Berlin",
        "the end of the day summer time ends (25 h long) in a zone east of UTC",
    ),
)

SUITES = (
    "tests/unit",
    "tests/integration/billing",
    "tests/integration/audit",
    "tests/integration/audit_log",
    "tests/integration/identity",
)


def faked(instant: Instant, preload: str) -> dict[str, str]:
    # children (relays, consumers, workers) carry on from the parent's faked time, not from the instant
    return faked_environment(os.environ, preload, instant.local_time, instant.zone, children_carry_on=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.calendar", description=__doc__.split("\n\n")[0])
    parser.add_argument("--instant", action="append", choices=[i.name for i in INSTANTS], help="only these")
    parser.add_argument("--suite", action="append", help="only these test paths (default: the calendar suites)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    args = parser.parse_args()
    preload = prepare_preload()
    instants = [i for i in INSTANTS if not args.instant or i.name in args.instant]
    suites = args.suite or list(SUITES)
    results: list[tuple[Instant, int, float]] = []
    for instant in instants:
        print(f"\n=== {instant.name}: {instant.local_time} {instant.zone} ({instant.why})", flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *suites, *args.pytest_args],
            cwd=ROOT,
            env=faked(instant, preload),
        )
        results.append((instant, code, time.monotonic() - started))
    print("\ninstant      clock                          result   seconds")
    for instant, code, seconds in results:
        verdict = "passed" if code == 0 else f"FAILED ({code})"
        print(f"{instant.name:<12} {instant.local_time} {instant.zone:<13} {verdict:<8} {seconds:7.0f}")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
