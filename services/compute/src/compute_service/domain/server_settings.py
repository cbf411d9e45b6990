"""Server actions that set something on the server (ISO, protection, reverse DNS, backups) or
hand the caller a secret once (console, root password), and their rules.

Protection is the platform's own: every delete and rebuild a customer asks for goes through
the platform, which refuses it while protected. It is not mirrored upstream, where it would
only stand in the way of the platform's own clean-up (an erased account's servers, strays).

Backups cost a percentage of the server's price, as at Hetzner; ``server.backup_changed``
carries the server type and its prices so that billing can price them.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from compute_service.domain.server_actions import field_error
from compute_service.domain.server_status import RUNNING
from compute_service.domain.servers import Server
from cpshared.errors import PreconditionFailed
from hetzner_conventions.labels import check_hostname

ATTACH_ISO: Final = "attach_iso"
DETACH_ISO: Final = "detach_iso"
CHANGE_PROTECTION: Final = "change_protection"
CHANGE_DNS_PTR: Final = "change_dns_ptr"
ENABLE_BACKUP: Final = "enable_backup"
DISABLE_BACKUP: Final = "disable_backup"
REQUEST_CONSOLE: Final = "request_console"
RESET_PASSWORD: Final = "reset_password"  # noqa: S105 - a command name, not a password

# Carried out by the worker (the last two only wait for the upstream action asked for at once).
COMMANDS: Final = frozenset(
    {ATTACH_ISO, DETACH_ISO, CHANGE_DNS_PTR, ENABLE_BACKUP, DISABLE_BACKUP, REQUEST_CONSOLE, RESET_PASSWORD}
)
MAX_DNS_PTR: Final = 255


def check_iso(iso: str) -> str:
    iso = iso.strip()
    if not iso or len(iso) > 255:
        raise field_error("iso", "iso is required: the name or id of an ISO (1 to 255 characters)")
    return iso


def ensure_iso_attached(server: Server) -> None:
    if server.iso is None:
        raise PreconditionFailed(f"server {server.id} has no ISO attached")


def check_protection(delete: bool | None, rebuild: bool | None) -> None:
    if delete is None and rebuild is None:
        raise field_error("delete", "give delete, rebuild or both")
    if delete is not None and rebuild is not None and delete != rebuild:
        # Hetzner: "currently delete and rebuild attribute needs to have the same value".
        raise field_error("rebuild", "delete and rebuild must have the same value")


def check_dns_ptr(server: Server, ip: str, dns_ptr: str | None) -> str:
    """The address in its normal form when it is the server's IPv4 address or one of its IPv6
    network's and ``dns_ptr`` a hostname (or None), else INVALID_ARGUMENT."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        raise field_error("ip", f"{ip!r} is not an IP address") from None
    if dns_ptr is not None and not 1 <= len(dns_ptr) <= MAX_DNS_PTR:
        raise field_error("dns_ptr", f"dns_ptr must be 1 to {MAX_DNS_PTR} characters, or null to reset it")
    if dns_ptr is not None:
        check_hostname("dns_ptr", dns_ptr)  # no line breaks, paths or spaces: a name a resolver serves
    if isinstance(address, ipaddress.IPv4Address):
        if server.ipv4_address is None or address != ipaddress.ip_address(server.ipv4_address):
            raise field_error("ip", f"{ip} is not the IPv4 address of server {server.id}")
    elif server.ipv6_network is None or address not in ipaddress.ip_network(server.ipv6_network, strict=False):
        raise field_error("ip", f"{ip} is not in the IPv6 network of server {server.id}")
    return str(address)


def ensure_backup(server: Server, enable: bool) -> None:
    if server.backup_enabled == enable:
        raise PreconditionFailed(f"backups of server {server.id} are {'enabled' if enable else 'disabled'} already")


class ServerNotRunning(PreconditionFailed):
    """Hetzner resets a root password only on a running server (through its qemu guest agent).
    Its API names no code for the refusal; the platform answers ``422 server_not_running``, the
    counterpart of Hetzner's ``422 server_not_stopped``."""

    code = "server_not_running"


def ensure_running_for_password_reset(server: Server) -> None:
    ensure_provisioned(server)
    if server.status != RUNNING:
        raise ServerNotRunning(
            f"server {server.id} is {server.status}; power it on first: the root password is reset "
            "through the running system's guest agent"
        )


def ensure_provisioned(server: Server) -> int:
    if server.hetzner_id is None:
        raise PreconditionFailed(f"server {server.id} is not provisioned yet")
    return server.hetzner_id
