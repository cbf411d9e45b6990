"""``501 not_implemented`` for the operations of Hetzner Cloud's API the platform does not offer
yet, so that a Hetzner client is told "not here yet" rather than a bare ``404 not_found``,
which it cannot tell from a missing resource (the ``hcloud`` CLI then retries by name).

Only a request no route of the app answers gets here (the router's own 404 or 405), and
only for an operation the app has no route for at all: a route the app has always wins (a
path it refuses, such as an id that is no number, stays a 404), so every family the gateway
(or the simulator) starts serving leaves this list by itself. A path that is not Hetzner's
keeps its 404.
"""

from __future__ import annotations

import re
from functools import cache

from hetzner_conventions.operations import HETZNER_OPERATIONS


def _regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$")


@cache
def _templates() -> dict[str, tuple[frozenset[str], re.Pattern[str]]]:
    methods: dict[str, set[str]] = {}
    for method, template in HETZNER_OPERATIONS:
        methods.setdefault(template, set()).add(method)
    # Literal segments before parameters: /v1/servers/actions is not /v1/servers/{id}.
    ordered = sorted(methods, key=lambda template: (template.count("{"), -len(template)))
    return {template: (frozenset(methods[template]), _regex(template)) for template in ordered}


def hetzner_operation(method: str, path: str) -> str | None:
    """The template of Hetzner's operation ``method path`` (``/v1/floating_ips/{id}``), if it is one."""
    for template, (methods, regex) in _templates().items():
        if regex.match(path):
            return template if method.upper() in methods else None
    return None


def example_path(template: str) -> str:
    """``template`` with every parameter an id: ``/v1/servers/1/actions/1``."""
    return re.sub(r"\{[^}]+\}", "1", template)


def family(template: str) -> str:
    """The resource family of a Hetzner path template: ``floating_ips`` of ``/v1/floating_ips/{id}``."""
    return template.split("/")[2]


def not_implemented_message(method: str, template: str, family_served: bool) -> str:
    """Names the family when the platform serves none of it, and always the operation."""
    what = "this operation" if family_served else family(template)
    return f"{what} is not offered by this platform yet: {method.upper()} {template}"
