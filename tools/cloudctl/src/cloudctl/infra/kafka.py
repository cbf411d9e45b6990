"""A local single-node Apache Kafka 4.x broker (KRaft, combined broker+controller).

No Docker and no distribution tarball: the broker's jars are Maven artifacts,
fetched once with `mvn dependency:copy-dependencies` from `deploy/kafka/pom.xml`.

Layout (relative to the repository root):

    .local/kafka/libs/             the broker's runtime classpath (+ .complete marker)
    .local/kafka/server.properties generated broker configuration
    .local/kafka/log4j2.properties generated logging configuration
    .local/kafka/cluster.id        the cluster id the storage was formatted with
    .local/kafka/data/             log.dirs (kept across stop/start)
    .local/run/kafka.pid           our pid file (see cloudctl.proc)
    .local/logs/kafka.log          the broker's log (log4j2)
    .local/logs/kafka.out          the JVM's own stdout/stderr
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil

from cloudctl import proc
from cloudctl.infra.mariadb import apt_install
from cloudctl.proc import ManagedProcess, PortInUseError, ServiceStatus, StartupError

log = logging.getLogger("cloudctl.infra.kafka")

__all__ = ["Kafka"]

_LIBS_MARKER = ".complete"
_MAIN_CLASS = "kafka.Kafka"


def _binary(name: str) -> str | None:
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/bin:/bin")


class Kafka:
    """The Kafka broker of one checkout (`root` is the repository root)."""

    name = "kafka"

    def __init__(
        self,
        root: Path,
        port: int = 9092,
        controller_port: int = 9093,
        host: str = "127.0.0.1",
        heap: str = "512m",
    ) -> None:
        self.root = root.resolve()
        self.host = host
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.pom = self.root / "deploy" / "kafka" / "pom.xml"
        self.local = self.root / ".local"
        self.base = self.local / "kafka"
        self.libs = self.base / "libs"
        self.datadir = self.base / "data"
        self.properties = self.base / "server.properties"
        self.log4j = self.base / "log4j2.properties"
        self.cluster_id_file = self.base / "cluster.id"
        self.logs_dir = self.local / "logs"
        self.log_file = self.logs_dir / "kafka.log"
        self.out_file = self.logs_dir / "kafka.out"
        self.fetch_log = self.logs_dir / "kafka-fetch.log"
        self.pid_file = self.local / "run" / "kafka.pid"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    # ---------------------------------------------------------------- tools
    def _java(self) -> str:
        java = _binary("java")
        if java is None:
            log.info("java missing: installing a Java 17 runtime from Debian")
            apt_install(["openjdk-17-jre-headless"], self.logs_dir / "apt.log")
            java = _binary("java")
            if java is None:
                raise proc.ProcessError("java not found after installing openjdk-17-jre-headless")
        return java

    def _mvn(self) -> str:
        mvn = _binary("mvn")
        if mvn is None:
            log.info("mvn missing: installing Maven from Debian")
            apt_install(["maven"], self.logs_dir / "apt.log")
            mvn = _binary("mvn")
            if mvn is None:
                raise proc.ProcessError("mvn not found after installing maven")
        return mvn

    def classpath(self) -> str:
        return f"{self.libs}/*"

    # ----------------------------------------------------------------- jars
    def _pom_digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()

    def jars_present(self) -> bool:
        marker = self.libs / _LIBS_MARKER
        if not marker.exists() or not any(self.libs.glob("kafka_2.13-*.jar")):
            return False
        return marker.read_text().strip() == self._pom_digest()

    def ensure_jars(self) -> None:
        """Fetch the broker's runtime classpath into .local/kafka/libs (once per pom)."""
        if not self.pom.exists():
            raise proc.ProcessError(f"{self.pom} is missing")
        if self.jars_present():
            return
        mvn = self._mvn()
        self._java()
        partial = self.base / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            mvn,
            "-q",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(self.pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",
        ]
        log.info("fetching the Kafka broker jars with Maven (once)")
        t0 = time.monotonic()
        with open(self.fetch_log, "ab") as out:
            out.write(f"\n=== {time.strftime('%F %T')} {' '.join(argv)}\n".encode())
            out.flush()
            rc = subprocess.call(
                argv, cwd=self.pom.parent, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        if rc != 0 or not any(partial.glob("kafka_2.13-*.jar")):
            raise proc.ProcessError(
                f"fetching the Kafka jars failed (mvn exit {rc}); see {self.fetch_log}:\n"
                + proc.log_tail(self.fetch_log, 30)
            )
        (partial / _LIBS_MARKER).write_text(self._pom_digest() + "\n")
        shutil.rmtree(self.libs, ignore_errors=True)
        partial.rename(self.libs)
        log.info("Kafka jars fetched in %.1fs (%d jars)", time.monotonic() - t0, len(list(self.libs.glob("*.jar"))))

    # ----------------------------------------------------------- configure
    def server_properties(self) -> str:
        h, p, c = self.host, self.port, self.controller_port
        return f"""\
# Generated by cloudctl (cloudctl/infra/kafka.py); rewritten on every start.
# Single node, combined mode: this process is both broker and KRaft controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={h}:{c}
listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}
advertised.listeners=PLAINTEXT://{h}:{p},CONTROLLER://{h}:{c}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

log.dirs={self.datadir}
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true

# internal topics of a single node: one replica, fewer partitions than the default 50
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=10

# fast tests: no wait for more members before the first rebalance
group.initial.rebalance.delay.ms=0

num.network.threads=3
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.segment.bytes=104857600
log.retention.check.interval.ms=300000
"""

    def log4j_properties(self) -> str:
        return f"""\
# Generated by cloudctl (cloudctl/infra/kafka.py).
status = warn
name = cloudctl-kafka

appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {self.log_file}
appender.file.filePattern = {self.log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3

rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE

logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel$
logger.requestchannel.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
"""

    def write_config(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for path, text in ((self.properties, self.server_properties()), (self.log4j, self.log4j_properties())):
            if not path.exists() or path.read_text() != text:
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text(text)
                tmp.replace(path)

    def _run_tool(self, *args: str) -> str:
        argv = [
            self._java(),
            "-Xmx256m",
            "-cp",
            self.classpath(),
            "kafka.tools.StorageTool",
            *args,
        ]
        res = subprocess.run(argv, cwd=self.base, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise proc.ProcessError(
                f"kafka-storage {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-2000:]}{res.stderr[-2000:]}"
            )
        return res.stdout

    def _formatted_cluster_id(self) -> str | None:
        meta = self.datadir / "meta.properties"
        try:
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id" and value.strip():
                    return value.strip()
        except FileNotFoundError:
            return None
        return None

    def cluster_id(self) -> str:
        formatted = self._formatted_cluster_id()
        if formatted:
            return formatted
        if self.cluster_id_file.exists():
            cid = self.cluster_id_file.read_text().strip()
            if cid:
                return cid
        cid = self._run_tool("random-uuid").strip().splitlines()[-1].strip()
        self.cluster_id_file.write_text(cid + "\n")
        return cid

    def ensure_formatted(self) -> None:
        """Write the configuration; format the storage directory once."""
        self.write_config()
        if self._formatted_cluster_id():
            return
        cid = self.cluster_id()
        log.info("formatting Kafka storage %s (cluster id %s)", self.datadir, cid)
        out = self._run_tool("format", "-t", cid, "-c", str(self.properties), "--standalone", "--ignore-formatted")
        log.debug("%s", out.strip())
        if not self._formatted_cluster_id():
            raise proc.ProcessError(f"kafka-storage format left no meta.properties:\n{out}")

    # --------------------------------------------------------------- start
    def _managed(self) -> ManagedProcess:
        argv = [
            self._java(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.logs_dir}",
            f"-Dlog4j2.configurationFile={self.log4j}",
            "-cp",
            self.classpath(),
            _MAIN_CLASS,
            str(self.properties),
        ]
        return ManagedProcess(
            name=self.name,
            argv=argv,
            env=dict(os.environ),
            log_file=self.out_file,
            pid_file=self.pid_file,
            cwd=self.base,
        )

    def _adopt_running(self) -> int | None:
        """Our broker running without (or with a stale) pid file: take it back."""
        for p in proc.iter_processes_named("java"):
            try:
                cmd = p.cmdline()
            except psutil.Error:
                continue
            if _MAIN_CLASS in cmd and str(self.properties) in cmd:
                proc.write_pid_file(self.pid_file, p.pid)
                return p.pid
        return None

    def _check_ports_free(self) -> None:
        for port in (self.port, self.controller_port):
            listeners = proc.port_listeners(port)
            if listeners or proc.port_open(self.host, port):
                raise PortInUseError(
                    f"cannot start Kafka: port {port} is already held by "
                    f"{proc.describe_pids(listeners)}, which is not this checkout's Kafka "
                    f"({self.root}). Stop that process and retry."
                )

    def _failure_text(self) -> str:
        parts = []
        for f in (self.out_file, self.log_file):
            tail = proc.log_tail(f, 30)
            if tail:
                parts.append(f"--- last lines of {f}:\n{tail}")
        return "\n".join(parts)

    def start(self, timeout: float = 90.0) -> int:
        """Start the broker (no-op if ours is running); wait until it accepts connections."""
        pid = proc.read_pid(self.pid_file) or self._adopt_running()
        if pid is not None:
            self._wait_ready(pid, timeout)
            return pid
        self.pid_file.unlink(missing_ok=True)
        self._check_ports_free()
        self.ensure_formatted()
        t0 = time.monotonic()
        pid = proc.start_detached(self._managed())
        log.info("Kafka started (pid %d), waiting for %s", pid, self.bootstrap_servers)
        try:
            self._wait_ready(pid, timeout)
        except StartupError:
            proc.stop_pid(self.pid_file, timeout=15)
            raise
        log.info("Kafka ready on %s in %.1fs", self.bootstrap_servers, time.monotonic() - t0)
        return pid

    def _wait_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if proc.read_pid(self.pid_file) is None:
                raise StartupError(f"Kafka (pid {pid}) exited during start-up\n" + self._failure_text())
            if proc.port_open(self.host, self.port):
                return
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"Kafka (pid {pid}) did not accept connections on "
                    f"{self.bootstrap_servers} within {timeout:.0f}s\n" + self._failure_text()
                )
            time.sleep(0.25)

    # ---------------------------------------------------------------- stop
    def stop(self, timeout: float = 60.0) -> bool:
        """Graceful shutdown (SIGTERM; Kafka may take ~10 s). True if it was running."""
        if proc.read_pid(self.pid_file) is None:
            self._adopt_running()
        t0 = time.monotonic()
        stopped = proc.stop_pid(self.pid_file, timeout=timeout)
        if stopped:
            log.info("Kafka stopped in %.1fs", time.monotonic() - t0)
        return stopped

    # -------------------------------------------------------------- status
    def status(self) -> ServiceStatus:
        pid = proc.read_pid(self.pid_file)
        healthy = pid is not None and proc.port_open(self.host, self.port)
        if pid is None:
            detail = "not running"
            if proc.port_open(self.host, self.port):
                detail += f"; port {self.port} held by {proc.describe_pids(proc.port_listeners(self.port))}"
        else:
            detail = f"bootstrap {self.bootstrap_servers}" if healthy else "starting or stuck"
        return ServiceStatus(
            name=self.name,
            pid=pid,
            port=self.port,
            healthy=healthy,
            rss_bytes=proc.rss_bytes(pid) if pid else None,
            detail=detail,
            extra={
                "bootstrap": self.bootstrap_servers,
                "datadir": str(self.datadir),
                "log": str(self.log_file),
                "cluster_id": self._formatted_cluster_id() or "",
            },
        )

    def up(self) -> ServiceStatus:
        """Fetch, configure, format and start, as needed."""
        if proc.read_pid(self.pid_file) is None:
            self.ensure_jars()
            self.ensure_formatted()
        self.start()
        return self.status()
