"""The catalog sync against the simulator through hcloud, and the platform's prices and availability."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from compute_service.adapters.upstream import HcloudCatalog
from compute_service.bootstrap import Compute
from compute_service.service_layer import catalog
from cpshared.errors import InvalidInput, NotFound, PreconditionFailed, Unavailable


def _outbox_types(compute: Compute) -> list[str]:
    with compute.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT event_type FROM outbox ORDER BY id")).scalars())


def test_the_migration_seeds_the_five_datacenters_of_the_seed(compute: Compute) -> None:
    codes = [dc.code for dc in catalog.list_datacenters(compute.uow())]
    assert codes == ["fsn1", "nbg1", "hel1", "ash", "hil"]


def test_sync_adds_server_types_at_upstreams_gross_price_as_decimal(compute: Compute) -> None:
    report = catalog.sync_catalog(compute.catalog_source(), compute.uow())
    assert report.server_types_created == 12 and report.images_created == 16
    types = {st.code: st for st in catalog.list_server_types(compute.uow())}
    cx22 = types["cx22"]
    # The simulator: 3.79 net a month in the EU, 19 % VAT; hourly = monthly / 672 (net, 4 places).
    assert cx22.price_monthly == Decimal("4.51")
    assert cx22.price_hourly == (Decimal("0.0056") * Decimal("1.19")).quantize(Decimal("0.000001"))
    assert isinstance(cx22.price_hourly, Decimal)
    assert cx22.supported_datacenters == ["fsn1", "nbg1", "hel1"]
    assert types["cpx11"].supported_datacenters == ["fsn1", "nbg1", "hel1", "ash", "hil"]
    assert types["ccx13"].category == "dedicated" and cx22.category == "standard"
    assert _outbox_types(compute).count("catalog.server_type_synced") == 12
    images = catalog.list_images(compute.uow())
    assert {(i.name, i.architecture) for i in images} >= {("ubuntu-24.04", "x86"), ("ubuntu-24.04", "arm")}


def test_a_second_sync_changes_nothing_and_keeps_the_platforms_prices(compute: Compute) -> None:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    cx22 = next(st for st in catalog.list_server_types(compute.uow()) if st.code == "cx22")
    catalog.set_price(cx22.id, "0.01", "5.99", compute.uow())
    again = catalog.sync_catalog(compute.catalog_source(), compute.uow())
    assert again.server_types_created == again.server_types_updated == again.images_created == 0
    kept = next(st for st in catalog.list_server_types(compute.uow()) if st.code == "cx22")
    assert (kept.price_hourly, kept.price_monthly) == (Decimal("0.010000"), Decimal("5.99"))
    assert kept.version == cx22.version + 1
    assert "catalog.price_changed" in _outbox_types(compute)


def test_sync_adds_load_balancer_types_at_upstreams_price_and_keeps_the_platforms(compute: Compute) -> None:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    types = {lt.code: lt for lt in catalog.list_load_balancer_types(compute.uow())}
    assert sorted(types) == ["lb11", "lb21", "lb31"]
    lb11 = types["lb11"]
    # The simulator: 5.39 net a month in Falkenstein (the platform's first datacenter), 19 % VAT.
    assert (lb11.price_monthly, lb11.max_targets, lb11.max_services) == (Decimal("6.41"), 25, 5)
    assert isinstance(lb11.price_hourly, Decimal) and lb11.price_hourly > 0
    assert lb11.upstream_datacenters == ["fsn1", "nbg1", "hel1", "ash", "hil"]
    with compute.engine.begin() as conn:  # the platform's own price, as an admin would set it
        conn.execute(sa.text("UPDATE load_balancer_types SET price_monthly = 4.99 WHERE code = 'lb11'"))
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    kept = {lt.code: lt for lt in catalog.list_load_balancer_types(compute.uow())}
    assert kept["lb11"].price_monthly == Decimal("4.99") and len(kept) == 3


def test_prices_are_checked(compute: Compute) -> None:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    st = catalog.list_server_types(compute.uow())[0]
    for hourly, monthly in (("abc", "1"), ("0.0000001", "1"), ("1", "1.001"), ("-1", "1"), ("1", "NaN")):
        with pytest.raises(InvalidInput):
            catalog.set_price(st.id, hourly, monthly, compute.uow())
    with pytest.raises(NotFound):
        catalog.set_price(999_999, "1", "1", compute.uow())


def test_availability_per_datacenter_is_the_admins_and_bounded_by_upstream(compute: Compute) -> None:
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    cx22 = next(st for st in catalog.list_server_types(compute.uow()) if st.code == "cx22")
    withdrawn = catalog.set_availability(cx22.id, "nbg1", False, compute.uow())
    assert withdrawn.supported_datacenters == ["fsn1", "hel1"]
    with pytest.raises(PreconditionFailed):
        catalog.set_availability(cx22.id, "ash", True, compute.uow())
    with pytest.raises(InvalidInput):
        catalog.set_availability(cx22.id, "xyz1", True, compute.uow())
    catalog.sync_catalog(compute.catalog_source(), compute.uow())
    kept = next(st for st in catalog.list_server_types(compute.uow()) if st.code == "cx22")
    assert kept.supported_datacenters == ["fsn1", "hel1"]
    back = catalog.set_availability(cx22.id, "nbg1", True, compute.uow())
    assert back.supported_datacenters == ["fsn1", "nbg1", "hel1"]
    off = catalog.set_availability(cx22.id, "", False, compute.uow())
    assert off.available is False
    assert "catalog.availability_changed" in _outbox_types(compute)


def test_an_upstream_that_refuses_the_token_fails_the_sync_and_changes_nothing(
    compute: Compute, simulator: str
) -> None:
    with pytest.raises(Unavailable):
        catalog.sync_catalog(HcloudCatalog(simulator, "wrong-token"), compute.uow())
    assert catalog.list_server_types(compute.uow()) == []


def test_the_operators_sync_catalog_command_syncs_through_computes_own_entrypoint(
    compute: Compute, compute_url: str, simulator: str, token_file: str
) -> None:
    env = os.environ | {
        "CP_DATABASE_URL": compute_url,
        "CP_HCLOUD_ENDPOINT": simulator,
        "CP_HCLOUD_TOKEN_FILE": token_file,
    }
    command = [sys.executable, "-m", "compute_service.entrypoints.cli", "sync-catalog"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "server_types_created": 12,
        "server_types_updated": 0,
        "images_created": 16,
        "images_updated": 0,
    }
    assert "cx22" in {st.code for st in catalog.list_server_types(compute.uow())}
    assert _outbox_types(compute).count("catalog.server_type_synced") == 12

    unreachable = env | {"CP_HCLOUD_TOKEN_FILE": str(Path(token_file).with_name("missing-token"))}
    refused = subprocess.run(command, env=unreachable, capture_output=True, text=True, check=False, timeout=120)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "token" in refused.stderr.strip().splitlines()[-1]
