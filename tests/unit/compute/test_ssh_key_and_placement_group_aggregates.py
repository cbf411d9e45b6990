"""SSH keys and placement groups change themselves: a change bumps the version only when
something changed, and records the event the contract registers (no database)."""

from __future__ import annotations

import pytest

from compute_service.domain.placement_groups import InUse, PlacementGroup
from compute_service.domain.ssh_keys import SshKey
from cpshared.events.catalog import REGISTRY


def _key() -> SshKey:
    return SshKey(
        id=5,
        user_id=42,
        organization_id=None,
        name="laptop",
        public_key="ssh-ed25519 AAAA",
        fingerprint="aa:bb",
        type="ssh-ed25519",
        labels={"env": "dev"},
        version=2,
    )


def _group(server_ids: list[int] | None = None) -> PlacementGroup:
    return PlacementGroup(
        id=3, user_id=42, organization_id=7, name="web", type="spread", server_ids=server_ids or [], version=1
    )


def test_an_ssh_key_records_its_creation_its_changes_and_its_deletion_at_their_versions() -> None:
    key = _key()
    key.created()
    assert not key.update("laptop", {"env": "dev"})  # nothing changed: no version, no event
    assert key.update(None, {"env": "prod"})
    key.delete()
    recorded = key.pop_events()
    assert [(r.event_type, r.version) for r in recorded] == [
        ("ssh_key.created", 2),
        ("ssh_key.updated", 3),
        ("ssh_key.deleted", 4),
    ]
    assert recorded[1].fields == {
        "ssh_key_id": 5,
        "user_id": 42,
        "organization_id": 0,
        "name": "laptop",
        "labels": {"env": "prod"},
    }
    for r in recorded:
        REGISTRY.spec(r.event_type).message(**r.fields)  # the contract has every field
    assert key.pop_events() == []


def test_a_placement_group_records_the_fields_that_changed_and_only_an_empty_one_is_deleted() -> None:
    group = _group()
    group.created()
    assert group.update("web", None) == []
    assert group.update("db", {"tier": "1"}) == ["name", "labels"]
    full = _group([11])
    with pytest.raises(InUse):
        full.delete()
    assert full.version == 1 and full.pop_events() == []
    group.delete()
    recorded = group.pop_events()
    assert [(r.event_type, r.version) for r in recorded] == [
        ("placement_group.created", 1),
        ("placement_group.updated", 2),
        ("placement_group.deleted", 3),
    ]
    assert recorded[0].fields["organization_id"] == 7 and recorded[1].fields["fields"] == ["name", "labels"]
    for r in recorded:
        REGISTRY.spec(r.event_type).message(**r.fields)
