"""Hetzner's rules for the labels of a resource: keys (with an optional prefix and ``/``) and
values up to 63 letters, digits, ``-``, ``_`` and ``.``, starting and ending with an
alphanumeric; an empty value is allowed. Plain Python, for every service that keeps labels."""

from __future__ import annotations

import re

from cpshared.errors import InvalidInput

LABEL_KEY = re.compile(
    r"^([a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?/)?[a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?$"
)
LABEL_VALUE = re.compile(r"^([a-z0-9A-Z]([a-z0-9A-Z._-]{0,61}[a-z0-9A-Z])?)?$")


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` (a copy) when every key and value follows Hetzner's rules; InvalidInput otherwise."""
    for key, value in labels.items():
        name = key.rpartition("/")[2]
        if not LABEL_KEY.match(key) or len(name) > 63 or len(key) > 317:
            raise InvalidInput(f"label key {key!r} is not valid: letters, digits, '-', '_', '.', up to 63 characters")
        if len(value) > 63 or not LABEL_VALUE.match(value):
            raise InvalidInput(
                f"label value {value!r} of {key!r} is not valid: up to 63 letters, digits, '-', '_', '.'"
            )
    return dict(labels)
