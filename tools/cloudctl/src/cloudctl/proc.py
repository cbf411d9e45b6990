"""Process helpers shared by every process of the local stack.

Each managed process is started detached (its own session and process group),
with stdin closed and stdout/stderr appended to a log file.  Its pid goes into a
pid file together with the process start time, so that a pid file left over
from before a reboot can never make us signal an unrelated process that
happens to have been given the same pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "ManagedProcess",
    "PortInUseError",
    "ProcessError",
    "ServiceStatus",
    "StartupError",
    "describe_pids",
    "iter_processes_named",
    "log_tail",
    "port_listeners",
    "port_open",
    "read_pid",
    "rss_bytes",
    "start_detached",
    "stop_pid",
    "wait_for_port",
    "write_pid_file",
]

# psutil.Process.create_time() is derived from clock ticks since boot; two reads
# for the same process agree to well under this.
_CREATE_TIME_TOLERANCE = 1.0


class ProcessError(RuntimeError):
    """A managed process could not be started, checked or stopped."""


class PortInUseError(ProcessError):
    """A port we need is held by a process that is not ours."""


class StartupError(ProcessError):
    """A process started but did not become healthy in time."""


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_file: Path
    pid_file: Path
    cwd: Path


@dataclass
class ServiceStatus:
    """What `status` reports for one component of the stack."""

    name: str
    pid: int | None
    port: int | None
    healthy: bool
    rss_bytes: int | None = None
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.pid is not None


def start_detached(p: ManagedProcess) -> int:
    """Start `p` in its own session, append its output to its log, write its pid file."""
    p.log_file.parent.mkdir(parents=True, exist_ok=True)
    p.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(p.log_file, "ab", buffering=0) as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {p.name}: {' '.join(p.argv)}\n".encode())
        proc = subprocess.Popen(
            p.argv,
            cwd=p.cwd,
            env=p.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    # Do not let the Popen object warn about a still-running child at exit:
    # the process is meant to outlive us.
    proc.returncode = 0
    write_pid_file(p.pid_file, proc.pid)
    return proc.pid


def write_pid_file(pid_file: Path, pid: int) -> None:
    try:
        created = f"{psutil.Process(pid).create_time():.3f}"
    except psutil.Error:
        created = ""
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(f"{pid}\n{created}\n")
    tmp.replace(pid_file)


def _parse_pid_file(pid_file: Path) -> tuple[int, float | None] | None:
    try:
        lines = pid_file.read_text().split()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not lines:
        return None
    try:
        pid = int(lines[0])
    except ValueError:
        return None
    created: float | None = None
    if len(lines) > 1:
        with contextlib.suppress(ValueError):
            created = float(lines[1])
    return (pid, created) if pid > 0 else None


def _alive(pid: int, created: float | None) -> bool:
    if pid <= 1 or pid == os.getpid():  # never ours to manage (a corrupt pid file)
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        # A different start time means the pid was reused by another process.
        return created is None or abs(proc.create_time() - created) <= _CREATE_TIME_TOLERANCE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _reap(pid: int) -> None:
    """Collect the exit status if `pid` is our own child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in `pid_file` if that process is alive (not a zombie), else None."""
    parsed = _parse_pid_file(pid_file)
    if parsed is None:
        return None
    pid, created = parsed
    return pid if _alive(pid, created) else None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    try:
        if pgid == pid and pgid != os.getpgrp():  # started by start_detached: own group
            os.killpg(pgid, sig)
        else:  # never signal a group we did not create (it may be our own)
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, created: float | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if not _alive(pid, created):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_pid(pid_file: Path, timeout: float = 20.0) -> bool:
    """SIGTERM the process group of the pid in `pid_file`, wait, then SIGKILL.

    Returns True if a live process was stopped, False if there was nothing to
    stop.  The pid file is removed in both cases.
    """
    parsed = _parse_pid_file(pid_file)
    if parsed is None or not _alive(*parsed):
        pid_file.unlink(missing_ok=True)
        return False
    pid, created = parsed
    _signal_group(pid, signal.SIGTERM)
    if not _wait_gone(pid, created, timeout):
        _signal_group(pid, signal.SIGKILL)
        if not _wait_gone(pid, created, 10.0):
            raise ProcessError(f"process {pid} ({pid_file.name}) survived SIGKILL")
    # Whatever else is left in its group (children) goes too.
    if pid != os.getpgrp():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    return True


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` plus all its descendants (0 if it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    """Poll until host:port accepts a connection or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def port_listeners(port: int) -> list[int]:
    """Pids of the processes listening on TCP `port` (any address)."""
    pids: set[int] = set()
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            pids.add(c.pid)
    return sorted(pids)


def describe_pids(pids: list[int]) -> str:
    """'1234 (mariadbd /usr/sbin/mariadbd --foo)' for each pid, for error messages."""
    parts: list[str] = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            cmd = " ".join(" ".join(proc.cmdline()).split())[:160] or proc.name()
            parts.append(f"pid {pid} ({cmd})")
        except psutil.Error:
            parts.append(f"pid {pid}")
    return ", ".join(parts) if parts else "an unknown process"


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file ('' if it does not exist)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def iter_processes_named(*names: str) -> Iterator[psutil.Process]:
    """Running (non-zombie) processes whose name is one of `names`."""
    for proc in psutil.process_iter(["name", "status"]):
        if proc.info["name"] in names and proc.info["status"] != psutil.STATUS_ZOMBIE:
            yield proc
