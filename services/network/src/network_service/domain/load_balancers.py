"""Load balancers (Hetzner's): a type of compute's catalog (lb11/lb21/lb31) in a location, a
public interface (IPv4 and IPv6, reverse DNS), services (tcp, http; health checks, sticky
sessions), targets (a server, a label selector: the tenant's servers whose labels match, a
server made later too; an IP), an algorithm, private networks it is attached to.

Its state is a :class:`Spec`; every action (``add_service``, ``add_target``,
``change_algorithm`` …) is a change of the spec (:func:`changed`), checked when it is started
(:meth:`LoadBalancer.check`), carried out upstream by network's worker on the spec it leads to
(:meth:`LoadBalancer.after`) and applied here once upstream did it (:meth:`LoadBalancer.completed`,
which records ``load_balancer.changed``). A broken rule answers before anything changed.

Persisted by :mod:`network_service.adapters.load_balancer_repository`, used by
:mod:`network_service.service_layer.load_balancers`.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from cpshared.aggregate import Aggregate
from cpshared.errors import InvalidInput, LimitExceeded, NotFound
from hetzner_conventions.errors import invalid_field
from hetzner_conventions.label_selector import parse_label_selector
from hetzner_conventions.labels import check_hostname
from network_service.domain.actions import RUNNING, Action, Locked, Protected
from network_service.domain.networks import HetznerRefusal

RESOURCE: Final = "load_balancer"
MAX_NAME: Final = 128
ALGORITHMS: Final = ("round_robin", "least_connections")
PROTOCOLS: Final = ("tcp", "http", "https")
HEALTH_PROTOCOLS: Final = ("tcp", "http")
TARGET_TYPES: Final = ("server", "label_selector", "ip")

PROVISIONING: Final = "provisioning"
RUNNING_STATUS: Final = "running"
FAILED: Final = "error"

CREATE: Final = "create_load_balancer"
DELETE: Final = "delete_load_balancer"
ADD_SERVICE: Final = "add_service"
UPDATE_SERVICE: Final = "update_service"
DELETE_SERVICE: Final = "delete_service"
ADD_TARGET: Final = "add_target"
REMOVE_TARGET: Final = "remove_target"
CHANGE_ALGORITHM: Final = "change_algorithm"
CHANGE_TYPE: Final = "change_load_balancer_type"
ATTACH: Final = "attach_to_network"
DETACH: Final = "detach_from_network"
ENABLE_PUBLIC: Final = "enable_public_interface"
DISABLE_PUBLIC: Final = "disable_public_interface"
CHANGE_DNS_PTR: Final = "change_dns_ptr"
CHANGE_PROTECTION: Final = "change_protection"

UPSTREAM_COMMANDS: Final = (
    CREATE,
    DELETE,
    ADD_SERVICE,
    UPDATE_SERVICE,
    DELETE_SERVICE,
    ADD_TARGET,
    REMOVE_TARGET,
    CHANGE_ALGORITHM,
    CHANGE_TYPE,
    ATTACH,
    DETACH,
    ENABLE_PUBLIC,
    DISABLE_PUBLIC,
    CHANGE_DNS_PTR,
)
"""The commands network's worker carries out upstream (``change_protection`` finishes at once)."""


class TargetAlreadyDefined(HetznerRefusal):
    code = "target_already_defined"


class SourcePortAlreadyUsed(HetznerRefusal):
    code = "source_port_already_used"


class NotAttachedToNetwork(HetznerRefusal):
    code = "load_balancer_not_attached_to_network"


class AlreadyAttached(HetznerRefusal):
    code = "load_balancer_already_attached"


class ResourceLimitExceeded(LimitExceeded):
    """More services, targets or certificates than the type allows (Hetzner: ``resource_limit_exceeded``)."""


@dataclass(frozen=True)
class LoadBalancerType:
    """A type of compute's catalog with its limits."""

    id: int
    code: str
    description: str
    max_services: int
    max_targets: int
    max_connections: int
    max_assigned_certificates: int


# -- services -----------------------------------------------------------------------------------


def check_port(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise invalid_field(name, f"{name} must be a port from 1 to 65535")
    return value


def _seconds(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_field(name, f"{name} must be a whole number from {low} to {high}")
    return value


def check_service(body: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A service as stored and shown: ``body`` (what a request gave; None: not given) over ``old``
    (an update) or Hetzner's defaults. Certificate ids are checked by the caller."""
    protocol = body.get("protocol") or (old["protocol"] if old else None)
    if protocol not in PROTOCOLS:
        raise invalid_field("protocol", "protocol must be tcp, http or https")
    default_listen = {"http": 80, "https": 443}.get(protocol)
    listen = body.get("listen_port")
    listen = check_port(
        "listen_port", listen if listen is not None else (old["listen_port"] if old else default_listen)
    )
    destination = body.get("destination_port")
    if destination is None:
        destination = old["destination_port"] if old else (80 if protocol == "https" else listen)
    destination = check_port("destination_port", destination)
    proxyprotocol = body.get("proxyprotocol")
    service: dict[str, Any] = {
        "protocol": protocol,
        "listen_port": listen,
        "destination_port": destination,
        "proxyprotocol": bool(proxyprotocol if proxyprotocol is not None else (old or {}).get("proxyprotocol")),
    }
    hc_old: dict[str, Any] = dict((old or {}).get("health_check") or {})
    hc: Mapping[str, Any] = body.get("health_check") or {}
    hc_protocol = hc.get("protocol") or hc_old.get("protocol") or ("http" if protocol != "tcp" else "tcp")
    if hc_protocol not in HEALTH_PROTOCOLS:
        raise invalid_field("health_check.protocol", "health_check.protocol must be tcp or http")

    def given(name: str, default: Any) -> Any:
        value = hc.get(name)
        return value if value is not None else hc_old.get(name, default)

    health: dict[str, Any] = {
        "protocol": hc_protocol,
        "port": check_port("health_check.port", given("port", destination)),
        "interval": _seconds("health_check.interval", given("interval", 15), 3, 60),
        "timeout": _seconds("health_check.timeout", given("timeout", 10), 1, 60),
        "retries": _seconds("health_check.retries", given("retries", 3), 0, 5),
    }
    if health["timeout"] > health["interval"]:
        raise invalid_field("health_check.timeout", "health_check.timeout must not exceed health_check.interval")
    if hc_protocol == "http":
        http_old: dict[str, Any] = dict(hc_old.get("http") or {})
        http_given: Mapping[str, Any] = hc.get("http") or {}

        def http_value(name: str, default: Any) -> Any:
            value = http_given.get(name)
            return value if value is not None else http_old.get(name, default)

        path = str(http_value("path", "/"))
        if not path.startswith("/") or len(path) > 255:
            raise invalid_field(
                "health_check.http.path", "health_check.http.path must start with / (255 characters at most)"
            )
        codes = list(http_value("status_codes", ["2??", "3??"]))
        for code in codes:
            if len(str(code)) != 3 or not all(ch.isdigit() or ch == "?" for ch in str(code)):
                raise invalid_field("health_check.http.status_codes", f"{code!r} is not a status code like 200 or 2??")
        domain = http_value("domain", None)
        if domain:
            check_hostname("health_check.http.domain", str(domain))
        health["http"] = {
            "domain": domain or None,
            "path": path,
            "response": str(http_value("response", "")),
            "status_codes": [str(c) for c in codes],
            "tls": bool(http_value("tls", False)),
        }
    service["health_check"] = health
    if protocol in ("http", "https"):
        h_old: dict[str, Any] = dict((old or {}).get("http") or {})
        h: Mapping[str, Any] = body.get("http") or {}

        def h_value(name: str, default: Any) -> Any:
            value = h.get(name)
            return value if value is not None else h_old.get(name, default)

        cookie = str(h_value("cookie_name", "HCLBSTICKY"))
        if not cookie or len(cookie) > 64 or not all(ch.isalnum() or ch in "-_" for ch in cookie):
            raise invalid_field("http.cookie_name", "http.cookie_name must be 1 to 64 letters, digits, - or _")
        certificates = [int(c) for c in h_value("certificates", [])]
        if protocol == "https" and not certificates:
            raise invalid_field("http.certificates", "an https service needs at least one certificate")
        if protocol == "http" and certificates:
            raise invalid_field("http.certificates", "certificates are for https services only")
        redirect = bool(h_value("redirect_http", False))
        if redirect and protocol != "https":
            raise invalid_field("http.redirect_http", "redirect_http is for https services only")
        service["http"] = {
            "cookie_name": cookie,
            "cookie_lifetime": _seconds("http.cookie_lifetime", h_value("cookie_lifetime", 300), 1, 2_592_000),
            "certificates": certificates,
            "redirect_http": redirect,
            "sticky_sessions": bool(h_value("sticky_sessions", False)),
            "timeout_idle": _seconds("http.timeout_idle", h_value("timeout_idle", 60), 1, 3600),
        }
    else:
        service["http"] = None
    return service


# -- targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    type: str
    server_id: int | None = None
    selector: str | None = None
    ip: str | None = None
    use_private_ip: bool = False

    def key(self) -> tuple[str, str]:
        value = self.server_id if self.type == "server" else self.selector if self.type == "label_selector" else self.ip
        return self.type, str(value)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "server_id": self.server_id,
            "selector": self.selector,
            "ip": self.ip,
            "use_private_ip": self.use_private_ip,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Target:
        return cls(
            type=str(data["type"]),
            server_id=data.get("server_id"),
            selector=data.get("selector"),
            ip=data.get("ip"),
            use_private_ip=bool(data.get("use_private_ip")),
        )


def check_target(
    kind: str, server_id: int | None = None, selector: str | None = None, ip: str | None = None, private: bool = False
) -> Target:
    """A target's own rules (whether the server is the caller's is the use case's)."""
    if kind == "server":
        if not server_id or server_id < 1:
            raise invalid_field("server", "a server target names server.id")
        return Target("server", server_id=server_id, use_private_ip=private)
    if kind == "label_selector":
        if not selector or not selector.strip():
            raise invalid_field("label_selector", "a label_selector target names label_selector.selector")
        parse_label_selector(selector)
        return Target("label_selector", selector=selector, use_private_ip=private)
    if kind == "ip":
        try:
            address = ipaddress.ip_address((ip or "").strip())
        except ValueError:
            raise invalid_field("ip", f"{ip!r} is not an IP address") from None
        if not address.is_global:
            raise invalid_field("ip", f"{address} is not a public address; an ip target is a public IP")
        if private:
            raise invalid_field("use_private_ip", "use_private_ip is for server and label_selector targets")
        return Target("ip", ip=str(address))
    raise invalid_field("type", "type must be server, label_selector or ip")


# -- the spec and its changes ---------------------------------------------------------------------


@dataclass
class Spec:
    """What a load balancer is: what upstream is to mirror."""

    type: str
    algorithm: str = "round_robin"
    public_enabled: bool = True
    services: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    """Private networks attached: ``{"network": id, "ip": address or None}``."""
    dns_ptrs: dict[str, str] = field(default_factory=dict)

    def network_ids(self) -> list[int]:
        return [int(n["network"]) for n in self.networks]


def changed(spec: Spec, command: str, params: Mapping[str, Any]) -> Spec:
    """The spec once ``command`` with ``params`` is done (the params were checked when it started)."""
    after = copy.deepcopy(spec)
    if command == ADD_SERVICE:
        after.services.append(dict(params["service"]))
    elif command == UPDATE_SERVICE:
        after.services = [
            dict(params["service"]) if s["listen_port"] == params["listen_port"] else s for s in after.services
        ]
    elif command == DELETE_SERVICE:
        after.services = [s for s in after.services if s["listen_port"] != params["listen_port"]]
    elif command == ADD_TARGET:
        after.targets.append(Target.of(params["target"]))
    elif command == REMOVE_TARGET:
        gone = Target.of(params["target"]).key()
        after.targets = [t for t in after.targets if t.key() != gone]
    elif command == CHANGE_ALGORITHM:
        after.algorithm = str(params["algorithm"])
    elif command == CHANGE_TYPE:
        after.type = str(params["type"])
    elif command == ATTACH:
        after.networks.append({"network": int(params["network"]), "ip": params.get("ip")})
    elif command == DETACH:
        after.networks = [n for n in after.networks if int(n["network"]) != int(params["network"])]
        if not after.networks:
            after.targets = [replace(t, use_private_ip=False) for t in after.targets]
    elif command == ENABLE_PUBLIC:
        after.public_enabled = True
    elif command == DISABLE_PUBLIC:
        after.public_enabled = False
    elif command == CHANGE_DNS_PTR:
        if params.get("dns_ptr"):
            after.dns_ptrs[str(params["ip"])] = str(params["dns_ptr"])
        else:
            after.dns_ptrs.pop(str(params["ip"]), None)
    return after


def check_name(name: str) -> str:
    if not name.strip() or len(name) > MAX_NAME:
        raise invalid_field("name", f"name must be 1 to {MAX_NAME} characters")
    return name


def check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise invalid_field("algorithm", f"algorithm {algorithm!r} is unknown; use round_robin or least_connections")
    return algorithm


def fits(lb_type: LoadBalancerType, spec: Spec) -> None:
    """The spec within the type's limits (``resource_limit_exceeded`` otherwise)."""
    if len(spec.services) > lb_type.max_services:
        raise ResourceLimitExceeded(f"{lb_type.code} allows at most {lb_type.max_services} services")
    if len(spec.targets) > lb_type.max_targets:
        raise ResourceLimitExceeded(f"{lb_type.code} allows at most {lb_type.max_targets} targets")
    certificates = {c for s in spec.services for c in ((s.get("http") or {}).get("certificates") or [])}
    if len(certificates) > lb_type.max_assigned_certificates:
        raise ResourceLimitExceeded(f"{lb_type.code} allows at most {lb_type.max_assigned_certificates} certificates")


def check_services(services: list[dict[str, Any]]) -> None:
    ports = [s["listen_port"] for s in services]
    if len(set(ports)) < len(ports):
        raise SourcePortAlreadyUsed("two services listen on the same port; each listen_port is used once")


def check_targets(targets: list[Target]) -> None:
    keys = [t.key() for t in targets]
    if len(set(keys)) < len(keys):
        raise TargetAlreadyDefined("a target is named twice")


@dataclass
class LoadBalancer(Aggregate):
    id: int
    user_id: int
    organization_id: int | None
    name: str
    location: str
    location_id: int
    network_zone: str
    spec: Spec
    labels: dict[str, str] = field(default_factory=dict)
    status: str = PROVISIONING
    hetzner_id: int | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    protection_delete: bool = False
    blocked: bool = False
    locked: bool = False
    synced: bool = True
    """False while upstream may not hold every server its label selectors match now."""
    created_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1

    def owned_by(self, user_id: int, organization_id: int | None) -> bool:
        if self.organization_id:
            return organization_id == self.organization_id
        return organization_id is None and user_id == self.user_id

    def selectors(self) -> list[str]:
        return [t.selector for t in self.spec.targets if t.type == "label_selector" and t.selector]

    def update(self, name: str | None, labels: dict[str, str] | None) -> bool:
        changed_any = False
        if name is not None and name != self.name:
            self.name, changed_any = name, True
        if labels is not None and labels != self.labels:
            self.labels, changed_any = dict(labels), True
        if changed_any:
            self.version += 1
            self._record("load_balancer.updated", name=self.name, labels=dict(self.labels))
        return changed_any

    def created(self, action: Action) -> None:
        self._record(
            "load_balancer.created",
            name=self.name,
            load_balancer_type=self.spec.type,
            location=self.location,
            labels=dict(self.labels),
            action_id=action.id,
        )

    # -- starting actions --------------------------------------------------------------------

    def _ensure_free(self) -> None:
        if self.blocked:
            raise Locked(f"load balancer {self.id} is blocked: its account is suspended; nothing can be done with it")
        if self.locked:
            raise Locked(f"load balancer {self.id} is locked: another action is running on it; retry when it finished")

    def check(self, command: str, params: Mapping[str, Any], lb_type: LoadBalancerType) -> None:
        """Whether ``command`` may start (its params checked on their own by the caller)."""
        self._ensure_free()
        spec = self.spec
        if command == ADD_SERVICE:
            if any(s["listen_port"] == params["service"]["listen_port"] for s in spec.services):
                raise SourcePortAlreadyUsed(f"a service listens on port {params['service']['listen_port']} already")
        elif command in (UPDATE_SERVICE, DELETE_SERVICE):
            if not any(s["listen_port"] == params["listen_port"] for s in spec.services):
                raise NotFound(f"load balancer {self.id} has no service listening on port {params['listen_port']}")
        elif command == ADD_TARGET:
            target = Target.of(params["target"])
            if any(t.key() == target.key() for t in spec.targets):
                raise TargetAlreadyDefined(f"load balancer {self.id} has this target already")
            if target.use_private_ip and not spec.networks:
                raise NotAttachedToNetwork("use_private_ip needs the load balancer attached to a network")
        elif command == REMOVE_TARGET:
            if not any(t.key() == Target.of(params["target"]).key() for t in spec.targets):
                raise NotFound(f"load balancer {self.id} has no such target")
        elif command == ATTACH:
            if int(params["network"]) in spec.network_ids():
                raise AlreadyAttached(f"load balancer {self.id} is attached to network {params['network']} already")
        elif command == DETACH:
            if int(params["network"]) not in spec.network_ids():
                raise NotAttachedToNetwork(f"load balancer {self.id} is not attached to network {params['network']}")
            if not spec.public_enabled and len(spec.networks) == 1:
                raise InvalidInput("enable the public interface before detaching the last network")
        elif command == DISABLE_PUBLIC:
            if not spec.networks:
                raise NotAttachedToNetwork(
                    "attach the load balancer to a network before disabling its public interface"
                )
        elif command == CHANGE_DNS_PTR and params["ip"] not in (self.ipv4, self.ipv6):
            raise invalid_field("ip", f"{params['ip']} is not an address of load balancer {self.id}")
        fits(lb_type, changed(spec, command, params))

    def begin(self, command: str, params: dict[str, Any], now: datetime) -> Action:
        self._ensure_free()
        self.locked = True
        self.version += 1
        return self._action(command, params, now)

    def _action(self, command: str, params: dict[str, Any], now: datetime) -> Action:
        return Action(
            id=0,
            command=command,
            status=RUNNING,
            resource_type=RESOURCE,
            resource_id=self.id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            params=dict(params),
            resources=[{"id": self.id, "type": RESOURCE}],
            started=now,
        )

    def change_protection(self, delete: bool, now: datetime) -> Action:
        """Protection is the platform's: the action finishes at once."""
        self._ensure_free()
        action = self._action(CHANGE_PROTECTION, {"delete": delete}, now)
        self.protection_delete = delete
        self.version += 1
        action.finish(now)
        self._record("load_balancer.changed", command=CHANGE_PROTECTION, action_id=0)
        return action

    def after(self, action: Action) -> Spec:
        return changed(self.spec, action.command, action.params)

    # -- ending actions --------------------------------------------------------------------

    def provisioned(self, action: Action, hetzner_id: int, ipv4: str | None, ipv6: str | None, now: datetime) -> None:
        self.hetzner_id, self.ipv4, self.ipv6 = hetzner_id, ipv4, ipv6
        self.status = RUNNING_STATUS
        self.locked = False
        self.version += 1
        action.finish(now)
        self._record("load_balancer.provisioned", ipv4=ipv4 or "", ipv6=ipv6 or "", action_id=action.id)

    def completed(self, action: Action, now: datetime) -> None:
        """Upstream did ``action``: apply its change, unlock, end it and record its event."""
        self.spec = self.after(action)
        self.locked = False
        self.version += 1
        action.finish(now)
        self._record("load_balancer.changed", command=action.command, action_id=action.id)

    def action_failed(self, action: Action, code: str, message: str, now: datetime) -> None:
        self.locked = False
        if action.command == CREATE:
            self.status = FAILED
        self.version += 1
        action.fail(code, message, now)

    def cleaned_up(self, action: Action, now: datetime) -> None:
        """Upstream deleted it (the delete action's end)."""
        action.finish(now)

    def server_gone(self, server_id: int) -> bool:
        """Compute deleted the server: it is no more a target."""
        before = len(self.spec.targets)
        self.spec.targets = [t for t in self.spec.targets if not (t.type == "server" and t.server_id == server_id)]
        if len(self.spec.targets) == before:
            return False
        self.version += 1
        self.synced = False
        self._record("load_balancer.target_removed", server_id=server_id)
        return True

    def delete(self, now: datetime) -> Action:
        """Deleted here at once; the returned ``delete_load_balancer`` action deletes it upstream."""
        if self.protection_delete:
            raise Protected(f"load balancer {self.id} is protected against deletion; change its protection first")
        self._ensure_free()
        return self._gone(now, "deleted")

    def erase(self, now: datetime) -> Action | None:
        """Its account was erased: it goes, protected or not; one busy with an action stays (None)."""
        if self.locked:
            return None
        return self._gone(now, "erased")

    def _gone(self, now: datetime, reason: str) -> Action:
        self.deleted_at = now
        self.locked = True
        self.version += 1
        self._record("load_balancer.deleted", reason=reason)
        return self._action(DELETE, {}, now)

    def block(self, reason: str) -> bool:
        if self.blocked:
            return False
        self.blocked = True
        self.version += 1
        self._record("load_balancer.blocked", reason=reason)
        return True

    def unblock(self) -> bool:
        if not self.blocked:
            return False
        self.blocked = False
        self.version += 1
        self._record("load_balancer.unblocked")
        return True

    def _record(self, event_type: str, **fields: Any) -> None:
        owner = {"load_balancer_id": self.id, "user_id": self.user_id, "organization_id": self.organization_id or 0}
        self._emit(event_type, self.id, self.version, {**owner, **fields})


def check_dns_ptr(ip: str, dns_ptr: str | None) -> tuple[str, str | None]:
    try:
        address = str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise invalid_field("ip", f"{ip!r} is not an IP address") from None
    if dns_ptr is not None:
        check_hostname("dns_ptr", dns_ptr)
    return address, dns_ptr
