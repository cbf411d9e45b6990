"""Ticket numbers on MariaDB: one after the other without gaps, under concurrent openings and
when an opening fails after it took its number (the rollback gives the number back, and the
files it stored are deleted)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from cpshared.db import make_engine
from cpshared.migrations import migrations_dir, upgrade
from support_service.adapters import tables as t
from support_service.adapters.object_store import LocalObjectStore
from support_service.bootstrap import Support
from support_service.service_layer import tickets
from tests.clocks import installed_clock

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32)


class FullDisk(LocalObjectStore):
    """A local store whose second write fails, as a full disk would."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes = 0

    def put(self, key: str, content: bytes) -> None:
        self.writes += 1
        if self.writes == 2:
            raise OSError(28, "No space left on device")
        super().put(key, content)


@pytest.fixture
def support(paths: LocalPaths, tmp_path: Path) -> Iterator[Support]:
    with MariaDB(paths.root).scratch_database("cp_test_tk_nr") as url:
        upgrade("support", migrations_dir("support"), url)
        engine = make_engine(url, pool_size=10)
        try:
            yield Support(engine, LocalObjectStore(tmp_path))
        finally:
            engine.dispose()


def _new(user_id: int, files: tuple[tuple[str, bytes], ...] = ()) -> tickets.NewTicket:
    return tickets.NewTicket(
        user_id=user_id,
        organization_id=None,
        subject="Numbers",
        category="other",
        priority="low",
        message="count me",
        attachments=files,
    )


def _numbers(support: Support) -> list[str]:
    with support.engine.connect() as connection:
        return list(connection.execute(sa.select(t.tickets.c.ticket_number).order_by(t.tickets.c.id)).scalars())


def test_concurrent_openings_take_consecutive_numbers(support: Support) -> None:
    with installed_clock(datetime(2027, 12, 31, 23, 0, tzinfo=UTC)):
        threads = [
            threading.Thread(
                target=tickets.open_ticket, args=(_new(i), support.uow(), support.store, support.rules, support.owners)
            )
            for i in range(1, 9)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(_numbers(support)) == [f"TKT-2027-{n:06d}" for n in range(1, 9)]


def test_a_failed_opening_gives_its_number_back_and_leaves_no_file(support: Support, tmp_path: Path) -> None:
    store = FullDisk(tmp_path / "objects")
    with installed_clock(datetime(2028, 1, 1, 0, 5, tzinfo=UTC)):
        tickets.open_ticket(_new(1), support.uow(), store, support.rules, support.owners)
        with pytest.raises(OSError):
            tickets.open_ticket(
                _new(2, (("a.png", PNG), ("b.png", PNG))), support.uow(), store, support.rules, support.owners
            )
        tickets.open_ticket(_new(3), support.uow(), store, support.rules, support.owners)
    assert _numbers(support) == ["TKT-2028-000001", "TKT-2028-000002"]
    assert [p for p in (tmp_path / "objects").rglob("*") if p.is_file()] == []
