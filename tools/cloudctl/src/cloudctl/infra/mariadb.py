"""A local MariaDB server for this checkout, with all its state under `.local/`.

Layout (relative to the repository root):

    .local/mariadb/my.cnf          generated server configuration
    .local/mariadb/data/           datadir (kept across stop/start)
    .local/mariadb/mysqld.sock     unix socket (root logs in here, by unix_socket auth)
    .local/run/mariadb.pid         our pid file (see cloudctl.proc)
    .local/logs/mariadb.log        error log + stdout/stderr of mariadbd

The server binaries come from Debian's packages, installed on first use
without letting the package start the system-wide service.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pymysql
import pymysql.connections
import pymysql.cursors

from cloudctl import proc
from cloudctl.proc import ManagedProcess, PortInUseError, ServiceStatus, StartupError

log = logging.getLogger("cloudctl.infra.mariadb")

__all__ = ["MariaDB", "apt_install"]

_SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
_IDENT = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_USER = re.compile(r"^[A-Za-z0-9_]{1,80}$")
_INITIALISED_MARKER = ".cloudctl-initialised"
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107

PACKAGES = ["mariadb-server", "mariadb-client"]


def find_binary(name: str) -> str | None:
    path = os.environ.get("PATH", "") + ":" + _SBIN_PATH
    return shutil.which(name, path=path)


def apt_install(packages: list[str], log_file: Path) -> None:
    """`apt-get update` + `apt-get install` of `packages`, starting no service.

    A temporary /usr/sbin/policy-rc.d that exits 101 tells invoke-rc.d (used by
    the packages' maintainer scripts) not to start or restart any service.
    """
    if os.geteuid() != 0:
        raise proc.ProcessError(
            f"{', '.join(packages)} not installed and we are not root: install them with "
            f"`sudo apt-get install -y --no-install-recommends {' '.join(packages)}`"
        )
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", NEEDRESTART_MODE="l")
    env["PATH"] = env.get("PATH", "") + ":" + _SBIN_PATH
    apt = ["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600"]
    backup: bytes | None = None
    if _POLICY_RC_D.exists():
        backup = _POLICY_RC_D.read_bytes()
    _POLICY_RC_D.write_text("#!/bin/sh\n# temporary, written by cloudctl: start no service\nexit 101\n")
    _POLICY_RC_D.chmod(0o755)
    try:
        for argv in (
            [*apt, "update"],
            [
                *apt,
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                *packages,
            ],
        ):
            log.info("running %s", " ".join(argv))
            with open(log_file, "ab") as out:
                out.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
                out.flush()
                rc = subprocess.call(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            if rc != 0:
                raise proc.ProcessError(
                    f"`{' '.join(argv)}` failed with exit code {rc}; see {log_file}:\n" + proc.log_tail(log_file, 30)
                )
    finally:
        if backup is not None:
            _POLICY_RC_D.write_bytes(backup)
        else:
            _POLICY_RC_D.unlink(missing_ok=True)


class MariaDB:
    """The MariaDB server of one checkout (`root` is the repository root)."""

    name = "mariadb"

    def __init__(self, root: Path, port: int = 3306, host: str = "127.0.0.1") -> None:
        self.root = root.resolve()
        self.port = port
        self.host = host
        self.local = self.root / ".local"
        self.base = self.local / "mariadb"
        self.datadir = self.base / "data"
        self.cnf = self.base / "my.cnf"
        self.pid_file = self.local / "run" / "mariadb.pid"
        self.server_pid_file = self.base / "mariadbd.pid"
        self.log_file = self.local / "logs" / "mariadb.log"
        self.install_log = self.local / "logs" / "mariadb-install.log"
        self.socket = self._socket_path()

    # ------------------------------------------------------------------ paths
    def _socket_path(self) -> Path:
        sock = self.base / "mysqld.sock"
        if len(str(sock).encode()) <= _MAX_SOCKET_PATH:
            return sock
        # Too deep a checkout for a unix socket path: use a short, stable path.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"cloudctl-{digest}" / "mysqld.sock"

    # ------------------------------------------------------------- install
    def ensure_installed(self) -> None:
        """Install Debian's mariadb-server/-client if the binaries are missing."""
        if self._binaries_present():
            return
        log.info("MariaDB binaries missing: installing %s from Debian", " ".join(PACKAGES))
        before = {p.pid for p in proc.iter_processes_named("mariadbd", "mysqld", "mysqld_safe", "mariadbd-safe")}
        apt_install(PACKAGES, self.local / "logs" / "apt.log")
        self._stop_system_server(before)
        if not self._binaries_present():
            raise proc.ProcessError("mariadb-server installed but mariadbd / mariadb-install-db are still not on PATH")

    def _binaries_present(self) -> bool:
        return all(find_binary(b) for b in ("mariadbd", "mariadb-install-db"))

    @staticmethod
    def _is_checkout_server(p: psutil.Process) -> bool:
        """A server started by cloudctl (this or another checkout), not the system's."""
        try:
            return any(a.startswith("--defaults-file=") and a.endswith("/.local/mariadb/my.cnf") for a in p.cmdline())
        except psutil.Error:
            return False

    def _stop_system_server(self, before: set[int]) -> None:
        """Stop a system-wide server that the package's scripts started despite policy-rc.d."""
        new = [
            p
            for p in proc.iter_processes_named("mariadbd", "mysqld", "mysqld_safe", "mariadbd-safe")
            if p.pid not in before and not self._is_checkout_server(p)
        ]
        if not new:
            return
        log.warning(
            "the mariadb-server package started a system server (%s): stopping it",
            proc.describe_pids([p.pid for p in new]),
        )
        if Path("/etc/init.d/mariadb").exists():
            subprocess.call(
                ["/etc/init.d/mariadb", "stop"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        alive = [p for p in new if p.is_running()]
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.terminate()
        _, still = psutil.wait_procs(alive, timeout=30)
        for p in still:
            with contextlib.suppress(psutil.Error):
                p.kill()

    # ---------------------------------------------------------- initialise
    def write_config(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        text = f"""\
# Generated by cloudctl (cloudctl/infra/mariadb.py); rewritten on every start.
[client]
socket = {self.socket}
port = {self.port}

[mariadbd]
user = root
datadir = {self.datadir}
socket = {self.socket}
port = {self.port}
bind-address = {self.host}
pid-file = {self.server_pid_file}
log-error = {self.log_file}
tmpdir = {self.base}
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
skip-name-resolve
skip-external-locking
max_connections = 500
max_allowed_packet = 64M

# InnoDB
innodb_buffer_pool_size = 256M
innodb_log_buffer_size = 8M
# local development: flush the redo log once a second, not on every commit
innodb_flush_log_at_trx_commit = 2

# keep it lean on memory
performance_schema = OFF
key_buffer_size = 8M
aria_pagecache_buffer_size = 16M
query_cache_type = 0
query_cache_size = 0
table_open_cache = 1000
table_definition_cache = 800
thread_cache_size = 16
tmp_table_size = 32M
max_heap_table_size = 32M
sort_buffer_size = 1M
join_buffer_size = 256K
read_buffer_size = 128K
read_rnd_buffer_size = 256K
"""
        if not self.cnf.exists() or self.cnf.read_text() != text:
            tmp = self.cnf.with_name("my.cnf.tmp")
            tmp.write_text(text)
            tmp.replace(self.cnf)

    def ensure_initialised(self) -> None:
        """Create the system tables in `.local/mariadb/data` (once)."""
        if (self.datadir / _INITIALISED_MARKER).exists():
            return
        install_db = find_binary("mariadb-install-db")
        if install_db is None:
            raise proc.ProcessError("mariadb-install-db not found: run ensure_installed() first")
        if proc.read_pid(self.pid_file) is not None:
            return  # a server is running on this datadir: it is initialised
        if self.datadir.exists():  # a half-finished earlier attempt: keep it aside, start afresh
            aside = self.base / f"data.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"
            log.warning("datadir %s has no completion marker: moving it to %s", self.datadir, aside)
            self.datadir.rename(aside)
        self.datadir.mkdir(parents=True)
        self.install_log.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            install_db,
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--user=root",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
            "--skip-name-resolve",
        ]
        log.info("initialising MariaDB datadir %s", self.datadir)
        with open(self.install_log, "ab") as out:
            out.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
            out.flush()
            rc = subprocess.call(argv, cwd=self.base, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if rc != 0:
            raise proc.ProcessError(
                f"mariadb-install-db failed ({rc}); see {self.install_log}:\n" + proc.log_tail(self.install_log, 30)
            )
        (self.datadir / _INITIALISED_MARKER).write_text(time.strftime("%F %T\n"))

    # --------------------------------------------------------------- start
    def _managed(self) -> ManagedProcess:
        mariadbd = find_binary("mariadbd")
        if mariadbd is None:
            raise proc.ProcessError("mariadbd not found: run ensure_installed() first")
        return ManagedProcess(
            name=self.name,
            argv=[mariadbd, f"--defaults-file={self.cnf}"],
            env=dict(os.environ),
            log_file=self.log_file,
            pid_file=self.pid_file,
            cwd=self.base,
        )

    def _adopt_running(self) -> int | None:
        """Our own server running without (or with a stale) pid file: take it back."""
        marker = f"--defaults-file={self.cnf}"
        for p in proc.iter_processes_named("mariadbd", "mysqld"):
            try:
                if marker in p.cmdline():
                    proc.write_pid_file(self.pid_file, p.pid)
                    return p.pid
            except psutil.Error:
                continue
        return None

    def _check_port_free(self) -> None:
        listeners = proc.port_listeners(self.port)
        if listeners or proc.port_open(self.host, self.port):
            raise PortInUseError(
                f"cannot start MariaDB: port {self.port} is already held by "
                f"{proc.describe_pids(listeners)}, which is not this checkout's MariaDB "
                f"({self.root}). Stop it (a system server: `service mariadb stop`) and retry."
            )

    def start(self, timeout: float = 60.0) -> int:
        """Start the server (no-op if ours is running) and wait until SELECT 1 works."""
        pid = proc.read_pid(self.pid_file) or self._adopt_running()
        if pid is not None:
            self._wait_ready(pid, timeout)
            return pid
        self.pid_file.unlink(missing_ok=True)
        self._check_port_free()
        self.write_config()
        self.socket.unlink(missing_ok=True)
        self.server_pid_file.unlink(missing_ok=True)
        t0 = time.monotonic()
        pid = proc.start_detached(self._managed())
        log.info("mariadbd started (pid %d), waiting for it to accept connections", pid)
        self._wait_ready(pid, timeout)
        log.info("MariaDB ready on %s:%d and %s in %.1fs", self.host, self.port, self.socket, time.monotonic() - t0)
        self._secure()
        return pid

    def _wait_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = ""
        while True:
            if proc.read_pid(self.pid_file) is None:
                raise StartupError(
                    f"mariadbd (pid {pid}) exited during start-up; last lines of "
                    f"{self.log_file}:\n{proc.log_tail(self.log_file)}"
                )
            if self.socket.exists():
                try:
                    if self._select_one(connect_timeout=2):
                        return
                except pymysql.MySQLError as e:
                    last_error = str(e)
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"MariaDB (pid {pid}) not ready after {timeout:.0f}s ({last_error}); "
                    f"last lines of {self.log_file}:\n{proc.log_tail(self.log_file)}"
                )
            time.sleep(0.2)

    def _select_one(self, connect_timeout: int = 5) -> bool:
        conn = self.admin_connect(connect_timeout=connect_timeout)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                row = cur.fetchone()
                return row is not None and row[0] == 1
        finally:
            conn.close()

    def _secure(self) -> None:
        """No anonymous users, no test database (idempotent, cheap)."""
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT User, Host FROM mysql.user WHERE User = ''")
                for user, host in cur.fetchall():
                    cur.execute("DROP USER %s@%s", (user, host))
                cur.execute("DROP DATABASE IF EXISTS test")
                cur.execute(r"SELECT COUNT(*) FROM mysql.db WHERE Db IN ('test', 'test\\_%')")
                row = cur.fetchone()
                if row and row[0]:
                    cur.execute(r"DELETE FROM mysql.db WHERE Db IN ('test', 'test\\_%')")
                    cur.execute("FLUSH PRIVILEGES")
                # mariadb-install-db adds a proxy grant for root@<hostname>, which
                # skip-name-resolve ignores with a warning on every start.
                cur.execute("SELECT COUNT(*) FROM mysql.proxies_priv WHERE User = 'root' AND Host <> 'localhost'")
                row = cur.fetchone()
                if row and row[0]:
                    cur.execute("DELETE FROM mysql.proxies_priv WHERE User = 'root' AND Host <> 'localhost'")
                    cur.execute("FLUSH PRIVILEGES")
        finally:
            conn.close()

    # ---------------------------------------------------------------- stop
    def stop(self, timeout: float = 60.0) -> bool:
        """Shut the server down (SIGTERM: a clean InnoDB shutdown). True if it was running."""
        if proc.read_pid(self.pid_file) is None:
            self._adopt_running()
        stopped = proc.stop_pid(self.pid_file, timeout=timeout)
        if stopped:
            log.info("MariaDB stopped")
        return stopped

    # -------------------------------------------------------------- status
    def status(self) -> ServiceStatus:
        pid = proc.read_pid(self.pid_file)
        healthy = False
        detail = "not running"
        if pid is not None:
            try:
                healthy = self._select_one(connect_timeout=2)
                detail = f"socket {self.socket}"
            except pymysql.MySQLError as e:
                detail = f"running but not answering: {e}"
        elif proc.port_open(self.host, self.port):
            detail = f"not running; port {self.port} held by {proc.describe_pids(proc.port_listeners(self.port))}"
        return ServiceStatus(
            name=self.name,
            pid=pid,
            port=self.port,
            healthy=healthy,
            rss_bytes=proc.rss_bytes(pid) if pid else None,
            detail=detail,
            extra={"socket": str(self.socket), "datadir": str(self.datadir), "log": str(self.log_file)},
        )

    def up(self) -> ServiceStatus:
        """Install, initialise and start, as needed."""
        self.ensure_installed()
        self.ensure_initialised()
        self.start()
        return self.status()

    # ---------------------------------------------------------------- SQL
    def admin_connect(
        self, database: str | None = None, connect_timeout: int = 5
    ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A connection as MariaDB's root, over the unix socket (unix_socket auth)."""
        return pymysql.connect(
            unix_socket=str(self.socket),
            user="root",
            database=database,
            charset="utf8mb4",
            connect_timeout=connect_timeout,
            autocommit=True,
        )

    @contextlib.contextmanager
    def scratch_database(self, prefix: str = "cp_scratch") -> Iterator[str]:
        """A throwaway database with its own user (as a service gets), dropped afterwards.

        Yields its SQLAlchemy URL. For tests and benchmarks: each gets a database of its own
        and can never see another's rows or the stack's.
        """
        import uuid

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        user = name[:32]  # MariaDB user names are at most 32 characters
        password = uuid.uuid4().hex
        self.ensure_service_database(name, user, password)
        try:
            yield f"mysql+pymysql://{user}:{password}@127.0.0.1:{self.port}/{name}"
        finally:
            conn = self.admin_connect()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
                    for host in ("127.0.0.1", "localhost"):
                        cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
            finally:
                conn.close()

    def ensure_service_database(self, db_name: str, user: str, password: str) -> None:
        """Database `db_name` (utf8mb4) and `user`@127.0.0.1/localhost with rights on it only."""
        if not _IDENT.match(db_name):
            raise ValueError(f"invalid database name {db_name!r} (letters, digits, _ only)")
        if not _USER.match(user):
            raise ValueError(f"invalid user name {user!r} (letters, digits, _ only)")
        # In GRANT, `_` and `%` in a database name are wildcards: escape them so
        # the grant covers exactly this database and no other.
        grant_db = db_name.replace("_", r"\_")
        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{db_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
                for host in ("127.0.0.1", "localhost"):
                    cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (user, host, password))
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
                    cur.execute("SHOW GRANTS FOR %s@%s", (user, host))
                    wanted = f"GRANT ALL PRIVILEGES ON `{grant_db}`.* TO "
                    extra = [
                        g
                        for (g,) in cur.fetchall()
                        if not g.startswith("GRANT USAGE ON *.* TO ") and not g.startswith(wanted)
                    ]
                    if extra:
                        log.warning("revoking unexpected grants of %s@%s: %s", user, host, extra)
                        cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", (user, host))
                    cur.execute(f"GRANT ALL PRIVILEGES ON `{grant_db}`.* TO %s@%s", (user, host))
        finally:
            conn.close()
