"""Each service owns one database and reaches it through a user that can touch nothing else."""

from __future__ import annotations

import pymysql
import pytest

from cloudctl.stack import ALL_SERVICES
from cpshared.migrations import head_revision, migrations_dir, version_table
from tests.integration.conftest import connect_as


def test_compute_user_cannot_read_the_identity_database(passwords: dict[str, str]) -> None:
    identity = connect_as("identity", passwords)
    with identity.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS boundary_probe (id INT PRIMARY KEY, secret VARCHAR(20))")
        cur.execute("REPLACE INTO boundary_probe VALUES (1, 'identity-only')")
        cur.execute("SELECT secret FROM boundary_probe")
        assert cur.fetchone() == ("identity-only",)
    compute = connect_as("compute", passwords)
    try:
        with compute.cursor() as cur, pytest.raises(pymysql.err.OperationalError) as denied:
            cur.execute("SELECT secret FROM cp_identity.boundary_probe")
        assert denied.value.args[0] == 1142  # ER_TABLEACCESS_DENIED_ERROR
        with pytest.raises(pymysql.err.OperationalError) as denied_use:
            connect_as("compute", passwords, database="cp_identity")
        assert denied_use.value.args[0] == 1044  # ER_DBACCESS_DENIED_ERROR
        with compute.cursor() as cur:
            cur.execute("SHOW DATABASES")
            visible = {row[0] for row in cur.fetchall()}
        assert visible == {"cp_compute", "information_schema"}
    finally:
        compute.close()
        with identity.cursor() as cur:
            cur.execute("DROP TABLE boundary_probe")
        identity.close()


def test_no_service_user_holds_privileges_beyond_its_own_database(passwords: dict[str, str]) -> None:
    for service in ALL_SERVICES:
        conn = connect_as(service, passwords)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GRANTS")
                grants = [row[0] for row in cur.fetchall()]
        finally:
            conn.close()
        database_grants = [g for g in grants if "ON *.*" not in g]
        # The underscore is escaped so the grant cannot match look-alike names (cp_x → cpXx).
        assert database_grants == [f"GRANT ALL PRIVILEGES ON `cp\\_{service}`.* TO `cp_{service}`@`127.0.0.1`"], grants
        global_grants = [g for g in grants if "ON *.*" in g]
        assert all(g.startswith("GRANT USAGE ON *.*") for g in global_grants), grants


def test_every_service_database_is_at_its_head_revision_in_its_own_version_table(passwords: dict[str, str]) -> None:
    for service in ALL_SERVICES:
        conn = connect_as(service, passwords)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT version_num FROM {version_table(service)}")  # noqa: S608 - fixed names
                assert cur.fetchall() == ((head_revision(migrations_dir(service)),),)
        finally:
            conn.close()
