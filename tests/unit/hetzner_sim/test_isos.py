"""GET /v1/isos and /v1/isos/{id} through the real hcloud client, every answer checked against
the spec (conftest's response hook), errors too."""

from __future__ import annotations

import pytest
from hcloud import APIException, Client

from tests.unit.hetzner_sim import spec
from tests.unit.hetzner_sim.conftest import Sim


def test_isos_are_listed_filtered_and_read(sim: Sim, client: Client) -> None:
    every = client.isos.get_all()
    assert [i.name for i in every] == [
        "virtio-win-0.1.248.iso",
        "FreeBSD-14.1-RELEASE-amd64-dvd1",
        "FreeBSD-14.1-RELEASE-arm64-dvd1",
    ]
    assert {(i.type, i.architecture) for i in every} == {("public", None), ("public", "x86"), ("public", "arm")}
    assert [i.name for i in client.isos.get_all(architecture=["arm"])] == ["FreeBSD-14.1-RELEASE-arm64-dvd1"]
    wildcard = client.isos.get_all(architecture=["x86"], include_architecture_wildcard=True)
    assert [i.name for i in wildcard] == ["virtio-win-0.1.248.iso", "FreeBSD-14.1-RELEASE-amd64-dvd1"]
    named = client.isos.get_by_name("FreeBSD-14.1-RELEASE-amd64-dvd1")
    assert named is not None and named.id is not None and named.architecture == "x86"
    assert client.isos.get_by_id(named.id).name == named.name
    page = client.isos.get_list(page=2, per_page=2)
    assert [i.name for i in page.isos] == ["FreeBSD-14.1-RELEASE-arm64-dvd1"]
    pagination = page.meta.pagination
    assert pagination is not None and pagination.total_entries == 3 and pagination.previous_page == 1
    with pytest.raises(APIException) as missing:
        client.isos.get_by_id(999_999)
    assert missing.value.code == "not_found"
    assert ("GET", "/v1/isos", 200) in sim.checked and ("GET", "/v1/isos/999999", 404) in sim.checked


def test_an_unknown_iso_answer_fails_the_spec() -> None:
    with pytest.raises(AssertionError):
        spec.validate("GET", "/v1/isos", 200, {"isos": [{"id": 1, "name": "x"}], "meta": {}})
