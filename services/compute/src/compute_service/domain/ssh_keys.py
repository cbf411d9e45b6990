"""SSH keys: a public key validated as OpenSSH, its MD5 fingerprint as Hetzner shows it, and
the tenant it belongs to (its user, or the organization it was added for)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from compute_service.domain.aggregate import Aggregate
from cpshared.errors import InvalidInput
from hetzner_conventions.labels import check_labels as check_labels  # Hetzner's label rules, kept once

MAX_NAME = 255
MAX_PUBLIC_KEY = 16_384


@dataclass(frozen=True)
class ParsedKey:
    public_key: str
    type: str
    fingerprint: str


def parse_public_key(text: str) -> ParsedKey:
    """``text`` as an OpenSSH public key (``<type> <base64> [comment]``), checked by
    cryptography; its fingerprint is the MD5 of the key blob in colon-separated hex."""
    public_key = text.strip()
    if not public_key or len(public_key) > MAX_PUBLIC_KEY or "\n" in public_key:
        raise InvalidInput("public_key must be one OpenSSH public key line, e.g. 'ssh-ed25519 AAAA... comment'")
    try:
        load_ssh_public_key(public_key.encode())
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidInput(
            "public_key is not a valid OpenSSH public key; give the contents of your id_*.pub file"
        ) from None
    parts = public_key.split()
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (IndexError, binascii.Error):
        raise InvalidInput("public_key is not a valid OpenSSH public key") from None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
    return ParsedKey(public_key=public_key, type=parts[0], fingerprint=fingerprint)


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters")
    return name


@dataclass
class SshKey(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    public_key: str
    fingerprint: str
    type: str
    labels: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    def created(self) -> None:
        """Record the key, once the repository gave it its id."""
        self._record(
            "ssh_key.created", name=self.name, fingerprint=self.fingerprint, type=self.type, labels=dict(self.labels)
        )

    def update(self, name: str | None, labels: dict[str, str] | None) -> bool:
        """Rename and relabel (values already checked); False when nothing changed."""
        if (name is None or name == self.name) and (labels is None or labels == self.labels):
            return False
        self.name = name if name is not None else self.name
        self.labels = labels if labels is not None else self.labels
        self.version += 1
        self._record("ssh_key.updated", name=self.name, labels=dict(self.labels))
        return True

    def delete(self) -> None:
        self.version += 1
        self._record("ssh_key.deleted", fingerprint=self.fingerprint)

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"ssh_key_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})
