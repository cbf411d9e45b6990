"""Stack control: bring the local platform up, report on it, take it down.

Every step is idempotent: ``up`` on a healthy stack starts nothing and changes nothing;
``down`` stops, by pid, exactly the processes ``up`` started (services first, then Kafka,
then MariaDB), so the ports are free afterwards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from cloudctl import proc
from cloudctl.health import grpc_health, http_health
from cloudctl.infra.kafka import Kafka
from cloudctl.infra.mailsink import MailSink
from cloudctl.infra.mariadb import MariaDB
from cloudctl.infra.prometheus import Prometheus
from cloudctl.migrate import migrate
from cloudctl.paths import LocalPaths
from cloudctl.stack import (
    ALL_SERVICES,
    KAFKA_BOOTSTRAP,
    ProcessSpec,
    Secrets,
    database_name,
    database_url,
    database_user,
    gateway_url,
    stack_specs,
)
from cpshared.kafka_admin import TopicChange, ensure_topics

Say = Callable[[str], None]


class Stack:
    def __init__(self, paths: LocalPaths | None = None) -> None:
        self.paths = paths or LocalPaths()
        self.mariadb = MariaDB(self.paths.root)
        self.kafka = Kafka(self.paths.root)
        self.mailsink = MailSink(self.paths.root)
        self.prometheus = Prometheus(self.paths.root)

    # -- infrastructure -------------------------------------------------------------------
    def infra_up(self, say: Say) -> None:
        self.paths.ensure()
        say("MariaDB: installing if missing, starting if stopped")
        self.mariadb.up()
        say("Kafka: fetching the broker if missing, starting if stopped")
        self.kafka.up()
        say("SMTP sink: starting if stopped")
        self.mailsink.up()

    def databases(self, say: Say) -> None:
        passwords = Secrets(self.paths).database_passwords()
        for service in ALL_SERVICES:
            self.mariadb.ensure_service_database(database_name(service), database_user(service), passwords[service])
        say(f"databases: {len(ALL_SERVICES)} databases, each with its own user")

    def topics(self) -> list[TopicChange]:
        return ensure_topics(KAFKA_BOOTSTRAP)

    def migrate(self, say: Say, services: tuple[str, ...] = ALL_SERVICES) -> None:
        passwords = Secrets(self.paths).database_passwords()
        for service in services:
            migrate(service, database_url(service, passwords[service]))
        say(f"migrations: {len(services)} services at head")

    def first_admin(self, say: Say) -> None:
        """Create the first admin when there is none; say where its API token is."""
        from cloudctl.admin_cli import ensure_first_admin, token_file

        written = ensure_first_admin(self.paths, say)
        token = written or token_file(self.paths)
        if written is None and token.exists():
            say(f"first admin: exists; its API token was written to {token}")

    # -- service processes ----------------------------------------------------------------
    def managed(self, spec: ProcessSpec) -> proc.ManagedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CP_")} | spec.env
        return proc.ManagedProcess(
            name=spec.name,
            argv=spec.argv(),
            env=env,
            log_file=self.paths.log_file(spec.name),
            pid_file=self.paths.pid_file(spec.name),
            cwd=self.paths.root,
        )

    def health(self, spec: ProcessSpec) -> str:
        if spec.kind == "grpc":
            assert spec.grpc_port is not None
            return grpc_health(spec.grpc_port)
        if spec.kind == "http":
            return http_health(f"http://127.0.0.1:{spec.http_port}/healthz")
        return http_health(f"http://127.0.0.1:{spec.metrics_port}/metrics")

    def start_services(self, say: Say) -> list[ProcessSpec]:
        started = []
        for spec in stack_specs(self.paths):
            if proc.read_pid(self.paths.pid_file(spec.name)) is not None:
                continue
            if spec.port and proc.port_open("127.0.0.1", spec.port):
                owners = proc.describe_pids(proc.port_listeners(spec.port))
                raise proc.PortInUseError(f"{spec.name}: port {spec.port} is held by another process ({owners})")
            proc.start_detached(self.managed(spec))
            started.append(spec)
        say(f"services: started {len(started)}, already running {len(stack_specs(self.paths)) - len(started)}")
        return started

    def wait_healthy(self, timeout: float = 90.0) -> dict[str, str]:
        specs = stack_specs(self.paths)
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while True:
            for spec in specs:
                if states.get(spec.name) == "SERVING":
                    continue
                if proc.read_pid(self.paths.pid_file(spec.name)) is None:
                    states[spec.name] = "EXITED"
                else:
                    states[spec.name] = self.health(spec)
            if all(s == "SERVING" for s in states.values()):
                return states
            if any(s == "EXITED" for s in states.values()) or time.monotonic() > deadline:
                return states
            time.sleep(0.3)

    def up(self, say: Say) -> bool:
        self.infra_up(say)
        self.databases(say)
        changes = self.topics()
        created = [c for c in changes if c.action != "unchanged"]
        say(f"topics: {len(changes)} declared, {len(created)} created or reconfigured")
        self.migrate(say)
        self.first_admin(say)
        self.start_services(say)
        states = self.wait_healthy()
        say("Prometheus: installing if missing, scraping every process's /metrics")
        self.prometheus.up(self.scrape_targets())
        say(f"Prometheus: targets {self.prometheus.url}/targets, alerts {self.prometheus.url}/alerts")
        failed = {name: s for name, s in states.items() if s != "SERVING"}
        for name, state in failed.items():
            say(f"[red]{name} is not healthy: {state}[/red]\n{proc.log_tail(self.paths.log_file(name), 25)}")
        return not failed

    def scrape_targets(self) -> list[str]:
        """Every process's /metrics (host:port), as Prometheus scrapes them."""
        return [f"127.0.0.1:{spec.metrics_port}" for spec in stack_specs(self.paths) if spec.metrics_port]

    def stop_services(self) -> list[str]:
        stopped = []
        for spec in reversed(stack_specs(self.paths)):
            if proc.stop_pid(self.paths.pid_file(spec.name)):
                stopped.append(spec.name)
        return stopped

    def down(self, say: Say, keep_infra: bool = False) -> None:
        stopped = self.stop_services()
        say(f"services: stopped {len(stopped)}")
        if self.prometheus.stop():
            say("Prometheus: stopped")
        if keep_infra:
            return
        if self.mailsink.stop():
            say("SMTP sink: stopped")
        if self.kafka.stop():
            say("Kafka: stopped")
        if self.mariadb.stop():
            say("MariaDB: stopped")

    def status(self) -> list[proc.ServiceStatus]:
        rows = [self.mariadb.status(), self.kafka.status(), self.mailsink.status(), self.prometheus.status()]
        for spec in stack_specs(self.paths):
            pid = proc.read_pid(self.paths.pid_file(spec.name))
            health = self.health(spec) if pid is not None else "STOPPED"
            rows.append(
                proc.ServiceStatus(
                    name=spec.name,
                    pid=pid,
                    port=spec.port,
                    healthy=health == "SERVING",
                    rss_bytes=proc.rss_bytes(pid) if pid is not None else None,
                    detail=f"worker, metrics :{spec.metrics_port}"
                    if spec.kind == "worker" and health == "SERVING"
                    else health,
                    extra={"metrics": str(spec.metrics_port)},
                )
            )
        return rows

    def url(self) -> str:
        return gateway_url()
