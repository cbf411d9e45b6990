"""Processes on a chosen clock: libfaketime (Debian's `faketime`, installed here when missing)
preloaded behind a small shim that keeps sleeps and timeouts on the real monotonic clock.

Used by `make test-calendar` (whole suites at awkward instants) and by tests whose scenario
runs on a ManualClock and starts a command-line process that must see the same time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cloudctl.infra.mariadb import apt_install
from cloudctl.paths import LocalPaths

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
ROOT = Path(__file__).resolve().parents[1]
SLEEP_SHIM_SOURCE = ROOT / "tests" / "calendar" / "monotonic_sleep.c"
# what libfaketime reads; a child given its own instant must not inherit its parent's
_FAKETIME_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_RESET", "FAKETIME_SHARED", "TZ", "DONT_FAKE_MONOTONIC")


def prepare_preload() -> str:
    """The LD_PRELOAD list of a faked process: the sleep shim (compiled here with the machine's
    C compiler) in front of libfaketime."""
    paths = LocalPaths(ROOT)
    if not LIBFAKETIME.exists():
        apt_install(["faketime"], paths.logs / "apt-faketime.log")
    if not LIBFAKETIME.exists():
        raise RuntimeError(f"libfaketime is not at {LIBFAKETIME} after installing Debian's faketime package")
    shim = paths.local / "calendar" / "monotonic_sleep.so"
    if not shim.exists() or shim.stat().st_mtime < SLEEP_SHIM_SOURCE.stat().st_mtime:
        shim.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(SLEEP_SHIM_SOURCE), "-ldl"], check=True)
    return f"{shim}:{LIBFAKETIME}"


def faked_environment(
    base: Mapping[str, str], preload: str, local_time: str, zone: str, *, children_carry_on: bool
) -> dict[str, str]:
    """``base`` with the wall clock starting at ``local_time`` (in ``zone``) and running on.
    ``children_carry_on``: the processes this one starts continue from its faked time instead
    of starting again at ``local_time``."""
    env = {k: v for k, v in base.items() if k not in _FAKETIME_VARIABLES}
    env.update(
        LD_PRELOAD=preload,
        FAKETIME=f"@{local_time}",
        TZ=zone,
        # only the wall clock is faked: timeouts and sleeps run on the real monotonic clock
        # (see calendar/monotonic_sleep.c for why both settings are needed)
        DONT_FAKE_MONOTONIC="1",
    )
    if children_carry_on:
        env["FAKETIME_DONT_RESET"] = "1"
    return env


def environment_at(when: datetime, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a process whose clock starts at ``when`` (timezone-aware)."""
    if when.tzinfo is None:
        raise ValueError("environment_at needs a timezone-aware time")
    local_time = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return faked_environment(
        os.environ if base is None else base, prepare_preload(), local_time, "UTC", children_carry_on=True
    )
