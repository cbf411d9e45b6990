"""The catalog and SSH keys through the GATEWAY with the real ``hcloud`` client: built with
``api_endpoint=<gateway>/v1`` and a platform API token, nothing special-cased. Identity, compute
(its catalog synced from an in-process Hetzner simulator) and the gateway run for real
(tests/integration/live.py); every JSON answer the client gets is checked against the Hetzner
OpenAPI description with the simulator tests' validator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hcloud import APIException, Client
from hcloud.certificates import Certificate

from cloudctl.infra.mariadb import MariaDB
from cloudctl.paths import LocalPaths
from compute_service.service_layer import catalog as compute_catalog
from cpshared.migrations import migrations_dir, upgrade
from identity_service.domain import commands
from identity_service.domain.model import OrganizationRole, User, UserRole, UserStatus
from identity_service.service_layer import api_keys, organizations, users
from tests.integration.live import LivePlatform, live_platform
from tests.unit.hetzner_sim import spec


@pytest.fixture(scope="module")
def platform(paths: LocalPaths) -> Iterator[LivePlatform]:
    mariadb = MariaDB(paths.root)
    with (
        mariadb.scratch_database("cp_test_cat_id") as identity_url,
        mariadb.scratch_database("cp_test_cat_gw") as gateway_url,
        mariadb.scratch_database("cp_test_cat_cp") as compute_url,
    ):
        upgrade("identity", migrations_dir("identity"), identity_url)
        upgrade("gateway", migrations_dir("gateway"), gateway_url)
        upgrade("compute", migrations_dir("compute"), compute_url)
        with live_platform(identity_url, gateway_url, compute_url=compute_url) as live:
            yield live


def _user(platform: LivePlatform) -> User:
    return users.create_user(
        commands.CreateUser(
            name="Catalog Client",
            email=f"cat-{uuid.uuid4().hex[:10]}@example.com",
            password="a long enough password",
            role=UserRole.CLIENT,
            status=UserStatus.ACTIVE,
        ),
        platform.identity.uow(),
    )


def _token(
    platform: LivePlatform,
    scopes: tuple[str, ...] = ("*:read", "*:write"),
    user: User | None = None,
    organization_id: int | None = None,
) -> str:
    """A platform API key of ``user`` (a new client when None), bound to ``organization_id``."""
    owner = user or _user(platform)
    _, secret = api_keys.create_api_key(
        commands.CreateApiKey(
            user_id=owner.id, name="hcloud", scopes=scopes, organization_id=organization_id, rate_limit=100_000
        ),
        platform.identity.uow(),
    )
    return secret


checked: list[tuple[str, str, int]] = []


def _validate(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    if not response.content or not response.headers.get("content-type", "").startswith("application/json"):
        return
    path = response.request.path_url.split("?")[0]
    method = str(response.request.method)
    spec.validate(method, path, response.status_code, response.json())
    checked.append((method, path, response.status_code))


def client_for(platform: LivePlatform, token: str) -> Client:
    client = Client(token=token, api_endpoint=f"{platform.gateway}/v1", poll_interval=0.01)
    client._client._session.hooks["response"].append(_validate)
    return client


@pytest.fixture(scope="module")
def hcloud(platform: LivePlatform) -> Client:
    return client_for(platform, _token(platform))


def _id(resource: Any) -> int:
    """The id of a bound hcloud resource (typed ``int | None`` by the client)."""
    assert resource is not None and resource.id is not None
    return int(resource.id)


def _public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me@host"


def test_server_types_are_the_platforms_with_its_prices_per_location(platform: LivePlatform, hcloud: Client) -> None:
    assert platform.compute is not None
    server_types = hcloud.server_types.get_all()
    assert {st.name for st in server_types} >= {"cx22", "cpx11", "cax11"}
    cx22 = hcloud.server_types.get_by_name("cx22")
    assert cx22 is not None and cx22.cores == 2 and cx22.architecture == "x86"
    # An admin's price is what the gateway shows, net and gross.
    compute_catalog.set_price(_id(cx22), "0.010000", "5.95", platform.compute.uow())
    cx22 = hcloud.server_types.get_by_id(_id(cx22))
    assert cx22.prices, "no prices"
    for price in cx22.prices:
        assert Decimal(price["price_monthly"]["gross"]) == Decimal("5.95")
        assert Decimal(price["price_monthly"]["net"]) == (Decimal("5.95") / Decimal("1.19")).quantize(
            Decimal("0.0000000001")
        )
    assert {loc.location.name for loc in cx22.locations or []} == {p["location"] for p in cx22.prices}


def test_a_withdrawn_server_type_is_not_listed(platform: LivePlatform, hcloud: Client) -> None:
    assert platform.compute is not None
    cx32 = hcloud.server_types.get_by_name("cx32")
    assert cx32 is not None and cx32.id is not None
    compute_catalog.set_availability(cx32.id, "nbg1", False, platform.compute.uow())
    assert "nbg1" not in {p["location"] for p in hcloud.server_types.get_by_id(cx32.id).prices or []}
    nbg1 = hcloud.datacenters.get_by_name("nbg1-dc1")
    assert nbg1 is not None and nbg1.server_types is not None
    assert cx32.id not in [st.id for st in nbg1.server_types.available]
    compute_catalog.set_availability(cx32.id, "", False, platform.compute.uow())
    assert hcloud.server_types.get_by_name("cx32") is None
    with pytest.raises(APIException) as error:
        hcloud.server_types.get_by_id(cx32.id)
    assert error.value.code == "not_found"


def test_locations_and_datacenters(hcloud: Client) -> None:
    locations = hcloud.locations.get_all()
    assert [loc.name for loc in locations] == ["fsn1", "nbg1", "hel1", "ash", "hil"]
    fsn1 = hcloud.locations.get_by_name("fsn1")
    assert fsn1 is not None and fsn1.country == "DE" and fsn1.network_zone == "eu-central"
    assert hcloud.locations.get_by_id(_id(fsn1)).city == "Falkenstein"
    datacenters = hcloud.datacenters.get_all()
    assert len(datacenters) == 5
    dc = hcloud.datacenters.get_by_name("fsn1-dc1")
    assert dc is not None and dc.location is not None and dc.location.name == "fsn1"
    assert dc.server_types is not None and dc.server_types.available


def test_images_by_name_and_architecture(hcloud: Client) -> None:
    images = hcloud.images.get_all(type=["system"])
    assert images and all(image.type == "system" for image in images)
    arm = hcloud.images.get_by_name_and_architecture("ubuntu-24.04", "arm")
    assert arm is not None and arm.architecture == "arm" and arm.os_flavor == "ubuntu"
    x86 = hcloud.images.get_by_name_and_architecture("ubuntu-24.04", "x86")
    assert x86 is not None and x86.id != arm.id
    assert hcloud.images.get_by_id(_id(x86)).name == "ubuntu-24.04"
    assert hcloud.images.get_all(type=["snapshot"]) == []


def test_pricing(hcloud: Client) -> None:
    # hcloud 2.27 has no pricing client any more; its generic request is the same HTTP path.
    pricing = hcloud.request("GET", "/pricing")["pricing"]
    assert pricing["currency"] == "EUR"
    assert Decimal(pricing["vat_rate"]) == Decimal(19)
    by_name = {st["name"]: st for st in pricing["server_types"]}
    cpx11 = hcloud.server_types.get_by_name("cpx11")
    assert cpx11 is not None
    assert by_name["cpx11"]["prices"] == cpx11.prices
    # Hetzner's decimal strings: fixed point, never an exponent ("0E-10"); backups 20 %. The
    # prices other than servers' are billing's plans: traffic 20 TB included (Hetzner's bytes)
    # and 1.00 gross per TB beyond, volumes 0.044 per GB, floating IPs, load balancers.
    price = by_name["cpx11"]["prices"][0]
    assert price["included_traffic"] == 20 * 1024**4 == 21990232555520
    assert price["price_per_tb_traffic"] == {"net": "0.8403361345", "gross": "1.0000000000"}
    assert pricing["volume"]["price_per_gb_month"] == {"net": "0.0369747899", "gross": "0.0440000000"}
    assert pricing["image"]["price_per_gb_month"]["gross"] == "0.0119000000"  # billing_0009's snapshot plan
    assert pricing["server_backup"]["percentage"] == "20.0000000000"
    assert pricing["vat_rate"] == "19.000000"
    assert pricing["floating_ip"]["price_monthly"]["gross"] == "3.5700000000"
    floating = {f["type"]: f["prices"] for f in pricing["floating_ips"]}
    assert set(floating) == {"ipv4", "ipv6"} and {p["location"] for p in floating["ipv4"]} == {
        loc.name for loc in hcloud.locations.get_all()
    }
    primary = {p["type"]: p["prices"] for p in pricing["primary_ips"]}
    assert set(primary) == {"ipv4", "ipv6"}
    assert {p["price_monthly"]["gross"] for p in primary["ipv4"]} == {"0.6000000000"}
    assert {p["price_hourly"]["gross"] for p in primary["ipv6"]} == {"0.0000000000"}
    lb11 = next(lt for lt in pricing["load_balancer_types"] if lt["name"] == "lb11")
    assert lb11["prices"][0]["price_monthly"]["gross"] == "5.3900000000"
    assert lb11["prices"][0]["included_traffic"] == 20 * 1024**4


def test_ssh_keys_lifecycle_with_label_selector(hcloud: Client) -> None:
    created = hcloud.ssh_keys.create(name="laptop", public_key=_public_key(), labels={"env": "prod", "team": "a"})
    other = hcloud.ssh_keys.create(name="desktop", public_key=_public_key(), labels={"env": "dev"})
    assert created.fingerprint and created.fingerprint.count(":") == 15
    assert [k.name for k in hcloud.ssh_keys.get_all(label_selector="env=prod")] == ["laptop"]
    assert {k.name for k in hcloud.ssh_keys.get_all(label_selector="env in (prod,dev)")} == {"laptop", "desktop"}
    assert _id(hcloud.ssh_keys.get_by_fingerprint(created.fingerprint)) == created.id
    updated = hcloud.ssh_keys.update(created, name="laptop-2", labels={"env": "staging"})
    assert updated.name == "laptop-2" and updated.labels == {"env": "staging"}
    assert _id(hcloud.ssh_keys.get_by_name("laptop-2")) == created.id
    with pytest.raises(APIException) as duplicate:
        hcloud.ssh_keys.create(name="laptop-2", public_key=_public_key())
    assert duplicate.value.code == "uniqueness_error"
    with pytest.raises(APIException) as malformed:
        hcloud.ssh_keys.create(name="broken", public_key="ssh-ed25519 not-a-key")
    assert malformed.value.code == "invalid_input"
    hcloud.ssh_keys.delete(updated)
    hcloud.ssh_keys.delete(other)
    assert hcloud.ssh_keys.get_by_name("laptop-2") is None


def test_another_tenants_key_is_not_found(platform: LivePlatform, hcloud: Client) -> None:
    mine = hcloud.ssh_keys.create(name="mine", public_key=_public_key())
    stranger = client_for(platform, _token(platform))
    for attempt in (
        lambda: stranger.ssh_keys.get_by_id(_id(mine)),
        lambda: stranger.ssh_keys.update(mine, name="taken"),
        lambda: stranger.ssh_keys.delete(mine),
    ):
        with pytest.raises(APIException) as error:
            attempt()
        assert error.value.code == "not_found"
    assert stranger.ssh_keys.get_all() == []
    assert hcloud.ssh_keys.get_by_id(_id(mine)).name == "mine"


def test_a_key_bound_to_an_organization_works_with_the_organizations_keys(platform: LivePlatform) -> None:
    owner, member = _user(platform), _user(platform)
    slug = f"org-{uuid.uuid4().hex[:10]}"
    organization, _ = organizations.create_organization(
        commands.CreateOrganization(acting_user_id=owner.id, name=slug, slug=slug), platform.identity.uow()
    )
    organizations.add_member(
        commands.AddMember(
            acting_user_id=owner.id, organization_id=organization.id, user_id=member.id, role=OrganizationRole.MEMBER
        ),
        platform.identity.uow(),
    )
    in_organization = client_for(platform, _token(platform, user=owner, organization_id=organization.id))
    shared = in_organization.ssh_keys.create(name="team", public_key=_public_key())
    colleague = client_for(platform, _token(platform, user=member, organization_id=organization.id))
    assert [k.id for k in colleague.ssh_keys.get_all()] == [shared.id]
    # The owner's key without the organization sees only the owner's own keys.
    personal = client_for(platform, _token(platform, user=owner))
    assert personal.ssh_keys.get_all() == []
    with pytest.raises(APIException) as error:
        personal.ssh_keys.get_by_id(_id(shared))
    assert error.value.code == "not_found"


def test_a_key_without_the_scope_is_forbidden(platform: LivePlatform) -> None:
    reader = client_for(platform, _token(platform, scopes=("ssh_keys:read",)))
    assert reader.ssh_keys.get_all() == []
    with pytest.raises(APIException) as error:
        reader.ssh_keys.create(name="nope", public_key=_public_key())
    assert error.value.code == "forbidden"
    with pytest.raises(APIException) as catalog_error:
        reader.server_types.get_all()
    assert catalog_error.value.code == "forbidden"


def test_lists_page_with_meta_and_link(platform: LivePlatform) -> None:
    token = _token(platform)
    answer = httpx.get(
        f"{platform.gateway}/v1/images?per_page=2&page=1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    spec.validate("GET", "/v1/images", 200, answer.json())
    meta = answer.json()["meta"]["pagination"]
    assert meta["per_page"] == 2 and meta["next_page"] == 2 and meta["total_entries"] > 2
    assert 'rel="next"' in answer.headers["Link"]
    bad = httpx.get(
        f"{platform.gateway}/v1/ssh_keys?label_selector=env%3D%3D%3D",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_input"


def test_every_answer_was_checked_against_the_spec() -> None:
    assert checked, "no answer was validated"


def test_an_operation_the_platform_does_not_offer_is_not_implemented(platform: LivePlatform, hcloud: Client) -> None:
    """Hetzner's operations the platform does not serve yet answer 501 naming the operation
    (the hcloud client raises it as not_implemented), never the router's bare 404."""
    with pytest.raises(APIException) as refused:
        hcloud.certificates.get_actions(Certificate(id=1))
    assert refused.value.code == "not_implemented"
    expected = "this operation is not offered by this platform yet: GET /v1/certificates/{id}/actions"
    assert expected in refused.value.message
    assert ("GET", "/v1/certificates/1/actions", 501) in checked  # and the answer matched the spec
    headers = {"Authorization": f"Bearer {_token(platform)}"}
    missing = requests.get(f"{platform.gateway}/v1/not_hetzners_at_all", headers=headers, timeout=10)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
