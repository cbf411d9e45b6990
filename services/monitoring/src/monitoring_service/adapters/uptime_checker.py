"""The uptime checks, from this machine (the checker's location): an HTTP(S) GET of ``/``
(2xx and 3xx pass; an https target's certificate is verified and its expiry reported), a TCP
connect, an ICMP echo (ping). Latency is the wall time of the check in milliseconds."""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from datetime import UTC, datetime

import httpx

from cpshared.clock import utcnow
from monitoring_service.domain.uptime_monitors import CheckResult, UptimeMonitor
from monitoring_service.service_layer.ports import UptimeChecker


def _host(target: str) -> str:
    return f"[{target}]" if ":" in target else target


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def certificate_expiry(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> datetime | None:
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    not_after = cert.get("notAfter") if cert else None
    if not isinstance(not_after, str):
        return None
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC)


class NetworkChecker(UptimeChecker):
    """Checks as this process sees the network. ``ca_file``: trust these CAs for https instead
    of the system's (a private CA)."""

    def __init__(self, region: str, *, ca_file: str = "") -> None:
        self.region = region
        self._tls = ssl.create_default_context(cafile=ca_file or None)

    def check(self, monitor: UptimeMonitor) -> CheckResult:
        at = utcnow()
        started = time.monotonic()
        try:
            if monitor.type in ("http", "https"):
                code, expiry = self._http(monitor)
                ok = 200 <= code < 400
                return CheckResult(
                    self.region, at, ok, _elapsed_ms(started), code, "" if ok else f"HTTP status {code}", expiry
                )
            if monitor.type == "tcp":
                assert monitor.port is not None
                with socket.create_connection((monitor.target, monitor.port), timeout=monitor.timeout_seconds):
                    pass
            else:
                _ping(monitor.target, monitor.timeout_seconds)
        except (OSError, httpx.HTTPError, ValueError) as exc:
            return CheckResult(self.region, at, False, None, None, _error(exc))
        return CheckResult(self.region, at, True, _elapsed_ms(started))

    def _http(self, monitor: UptimeMonitor) -> tuple[int, datetime | None]:
        url = f"{monitor.type}://{_host(monitor.target)}:{monitor.port}/"
        verify: ssl.SSLContext | bool = self._tls if monitor.type == "https" else False
        with (
            httpx.Client(verify=verify, timeout=monitor.timeout_seconds, follow_redirects=False) as client,
            client.stream("GET", url, headers={"User-Agent": "cloudplatform-uptime/1"}) as response,
        ):
            expiry = None
            if monitor.type == "https":
                stream = response.extensions.get("network_stream")
                expiry = certificate_expiry(stream.get_extra_info("ssl_object") if stream is not None else None)
            return int(response.status_code), expiry


def _error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:500]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _ping(target: str, timeout: float) -> None:
    """One ICMP echo to ``target``, answered within ``timeout`` or OSError. An unprivileged ICMP
    socket where the system allows one, a raw socket otherwise (root)."""
    family = socket.AF_INET6 if ":" in target else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if family == socket.AF_INET6 else socket.IPPROTO_ICMP
    echo_request = 128 if family == socket.AF_INET6 else 8
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM, proto)
    except PermissionError:
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    with sock:
        sock.settimeout(timeout)
        ident = os.getpid() & 0xFFFF
        body = struct.pack("!d", time.time())
        header = struct.pack("!BBHHH", echo_request, 0, 0, ident, 1)
        packet = struct.pack("!BBHHH", echo_request, 0, _checksum(header + body), ident, 1) + body
        address = socket.getaddrinfo(target, None, family)[0][4]
        sock.sendto(packet, address)
        deadline = time.monotonic() + timeout
        while True:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            data, _ = sock.recvfrom(2048)
            if sock.type == socket.SOCK_RAW and family == socket.AF_INET:
                data = data[(data[0] & 0x0F) * 4 :]
            if data and data[0] in (0, 129):  # echo reply (ICMP, ICMPv6)
                return
