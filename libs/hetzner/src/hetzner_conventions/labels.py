"""Hetzner's rules for labels and for the hostnames it takes (server names, reverse DNS entries):
every service that keeps Hetzner-shaped resources checks them here."""

from __future__ import annotations

import re
from typing import Final

from cpshared.errors import InvalidInput
from hetzner_conventions.errors import invalid_field

LABEL_KEY: Final = re.compile(
    r"^([a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?/)?[a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?$"
)
LABEL_VALUE: Final = re.compile(r"^([a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?)?$")
_HOST_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME: Final = re.compile(rf"^(?=.{{1,253}}$){_HOST_LABEL}(\.{_HOST_LABEL})*\.?$")
MAX_LABELS: Final = 64
"""The most labels one resource carries (the platform's limit; Hetzner's API documents none)."""


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """Hetzner's label rules: keys with an optional DNS prefix, values up to 63 characters, at
    most ``MAX_LABELS`` of them."""
    if len(labels) > MAX_LABELS:
        raise invalid_field("labels", f"a resource carries at most {MAX_LABELS} labels; {len(labels)} were sent")
    for key, value in labels.items():
        name = key.rpartition("/")[2]
        if not LABEL_KEY.match(key) or len(name) > 63 or len(key) > 317:
            raise InvalidInput(f"label key {key!r} is not valid: letters, digits, '-', '_', '.', up to 63 characters")
        if len(value) > 63 or not LABEL_VALUE.match(value):
            raise InvalidInput(
                f"label value {value!r} of {key!r} is not valid: up to 63 letters, digits, '-', '_', '.'"
            )
    return dict(labels)


def check_hostname(field: str, name: str) -> str:
    """``name`` when it is a hostname (letters, digits, '-', parts of 1 to 63 characters joined by
    '.', at most 253 characters), else ``invalid_input`` naming ``field``."""
    if not HOSTNAME.match(name):
        raise invalid_field(
            field,
            f"{field} {name!r} is not a hostname: letters, digits and '-', parts of 1 to 63 characters "
            "separated by '.', not starting or ending with '-'",
        )
    return name
