"""`cloudctl admin create`: the first admin, through identity's own operator command, on a scratch database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cloudctl.admin_cli import AdminExists, create_admin
from identity_service.bootstrap import Identity
from identity_service.domain import commands
from identity_service.domain.model import UserRole
from identity_service.service_layer import api_keys, logins


def test_the_first_admin_gets_a_random_password_and_a_token_readable_by_its_owner_only(
    identity: Identity, identity_url: str, tmp_path: Path
) -> None:
    token_file = tmp_path / ".local" / "admin-token"

    made = create_admin(identity_url, "root@example.com", token_file)

    assert token_file.read_text().strip() == made.token
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    key, user = api_keys.authenticate_api_key(made.token, identity.uow())
    assert (user.id, user.role, key.scopes) == (made.user_id, UserRole.ADMIN, ("*:read", "*:write"))
    login = commands.Login(email="root@example.com", password=made.password, ip="127.0.0.1")
    assert logins.login(login, identity.uow()).id == made.user_id
    assert len(made.password) >= 20


def test_a_second_admin_needs_force(identity_url: str, tmp_path: Path) -> None:
    first = create_admin(identity_url, "root@example.com", tmp_path / "admin-token")
    with pytest.raises(AdminExists):
        create_admin(identity_url, "other@example.com", tmp_path / "admin-token")
    second = create_admin(identity_url, "other@example.com", tmp_path / "admin-token", force=True)
    assert second.password != first.password and second.token != first.token
