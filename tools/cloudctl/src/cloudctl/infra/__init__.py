"""The local infrastructure of the stack: MariaDB and a single-node Kafka, no Docker.

All state lives under `<repo>/.local/` (gitignored).  `up`, `down` and `status`
act on both components; `MariaDB` and `Kafka` give finer control.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cloudctl.infra.kafka import Kafka
from cloudctl.infra.mariadb import MariaDB
from cloudctl.proc import ProcessError, ServiceStatus

__all__ = ["Kafka", "MariaDB", "down", "find_root", "lock", "status", "up"]

T = TypeVar("T")


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest directory upwards holding deploy/kafka/pom.xml."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "deploy" / "kafka" / "pom.xml").exists():
            return d
    # Fall back to this file's own checkout: <root>/tools/cloudctl/src/cloudctl/infra/
    return Path(__file__).resolve().parents[5]


@contextmanager
def lock(root: Path) -> Iterator[None]:
    """Serialise up/down of one checkout (e.g. `make up` racing `make test`)."""
    run = root / ".local" / "run"
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "infra.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _both(a: Callable[[], T], b: Callable[[], T]) -> tuple[T, T]:
    """Run two independent steps at once; if either fails, report every failure."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(a), pool.submit(b)
        errors = [e for e in (fa.exception(), fb.exception()) if e is not None]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        if all(isinstance(e, ProcessError) for e in errors):
            raise ProcessError("\n".join(str(e) for e in errors)) from errors[0]
        raise errors[0]
    return fa.result(), fb.result()


def up(root: Path) -> list[ServiceStatus]:
    """Install, initialise and start MariaDB and Kafka (each step only if needed)."""
    root = root.resolve()
    with lock(root):
        db, kafka = MariaDB(root), Kafka(root)
        s_db, s_kafka = _both(db.up, kafka.up)
        return [s_db, s_kafka]


def down(root: Path) -> dict[str, bool]:
    """Stop both; returns, per component, whether it had been running."""
    root = root.resolve()
    with lock(root):
        db, kafka = MariaDB(root), Kafka(root)
        s_db, s_kafka = _both(db.stop, kafka.stop)
        return {db.name: s_db, kafka.name: s_kafka}


def status(root: Path) -> list[ServiceStatus]:
    root = root.resolve()
    return [MariaDB(root).status(), Kafka(root).status()]
