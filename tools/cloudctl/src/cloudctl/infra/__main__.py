"""Manual driver: `python -m cloudctl.infra up|down|status [--root DIR]`."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cloudctl import infra
from cloudctl.proc import ProcessError, ServiceStatus


def _print(statuses: list[ServiceStatus]) -> None:
    for s in statuses:
        rss = f"{s.rss_bytes / 2**20:.0f} MiB" if s.rss_bytes else "-"
        state = "healthy" if s.healthy else ("running" if s.running else "down")
        print(f"{s.name:<8} {state:<8} pid={s.pid or '-':<8} port={s.port} rss={rss:<9} {s.detail}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cloudctl.infra")
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--root", type=Path, default=None, help="repository root (default: found)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    root = (args.root or infra.find_root()).resolve()
    t0 = time.monotonic()
    try:
        if args.command == "up":
            _print(infra.up(root))
        elif args.command == "down":
            for name, was_running in infra.down(root).items():
                print(f"{name:<8} {'stopped' if was_running else 'was not running'}")
        else:
            statuses = infra.status(root)
            _print(statuses)
            return 0 if all(s.healthy for s in statuses) else 3
    except ProcessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"({args.command} took {time.monotonic() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
