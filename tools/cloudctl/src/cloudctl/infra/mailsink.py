"""The local stack's SMTP server: a real SMTP sink that keeps every mail in a Maildir.

Services send mail over SMTP exactly as they would to a provider's relay
(:mod:`cpshared.mail`); the sink accepts it on 127.0.0.1:2525 and files each message under
``.local/mail`` (a Maildir), where operators read it (``cloudctl mail``) and tests find the
verification and invitation links. Nothing is relayed onwards.

Run as ``python -m cloudctl.infra.mailsink <maildir> <port>``; :class:`MailSink` starts it
detached like the other infrastructure.
"""

from __future__ import annotations

import asyncio
import email.policy
import mailbox
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from cloudctl import proc
from cloudctl.proc import ManagedProcess, ServiceStatus, StartupError

__all__ = ["Mail", "MailSink"]


@dataclass(frozen=True)
class Mail:
    key: str
    to: str
    subject: str
    body: str
    received: float


class MailSink:
    name = "mailsink"

    def __init__(self, root: Path, port: int = 2525, host: str = "127.0.0.1") -> None:
        self.root = root.resolve()
        self.host, self.port = host, port
        self.maildir = self.root / ".local" / "mail"
        self.pid_file = self.root / ".local" / "run" / f"{self.name}.pid"
        self.log_file = self.root / ".local" / "logs" / f"{self.name}.log"

    def up(self, timeout: float = 15.0) -> ServiceStatus:
        if proc.read_pid(self.pid_file) is None:
            if proc.port_open(self.host, self.port):
                owners = proc.describe_pids(proc.port_listeners(self.port))
                raise proc.PortInUseError(f"{self.name}: port {self.port} is held by another process ({owners})")
            proc.start_detached(
                ManagedProcess(
                    name=self.name,
                    argv=[sys.executable, "-m", "cloudctl.infra.mailsink", str(self.maildir), str(self.port)],
                    env={"PATH": "/usr/bin:/bin"},
                    log_file=self.log_file,
                    pid_file=self.pid_file,
                    cwd=self.root,
                )
            )
            if not proc.wait_for_port(self.host, self.port, timeout):
                raise StartupError(f"the SMTP sink did not listen on {self.port}:\n{proc.log_tail(self.log_file)}")
        return self.status()

    def stop(self) -> bool:
        return proc.stop_pid(self.pid_file)

    def status(self) -> ServiceStatus:
        pid = proc.read_pid(self.pid_file)
        healthy = pid is not None and proc.port_open(self.host, self.port)
        return ServiceStatus(
            name=self.name,
            pid=pid,
            port=self.port,
            healthy=healthy,
            rss_bytes=proc.rss_bytes(pid) if pid else None,
            detail=f"smtp {self.host}:{self.port}, maildir {self.maildir}" if healthy else "not running",
        )

    # -- reading the mailbox ----------------------------------------------------------------
    def messages(self, to: str | None = None) -> list[Mail]:
        """Every mail received (to ``to`` only, when given), oldest first."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        found = []
        for key, message in box.items():
            # The raw header first: parsing every mail in a long-lived sink takes far longer.
            if to is not None and to.lower() not in str(message.get("To", "")).lower():
                continue
            parsed = _parse(message)
            if to is not None and to.lower() not in parsed["To"].lower():
                continue
            found.append(
                Mail(
                    key=key,
                    to=str(parsed["To"]),
                    subject=str(parsed["Subject"]),
                    body=_text(parsed),
                    received=message.get_date(),
                )
            )
        return sorted(found, key=lambda m: m.received)

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 10.0) -> Mail:
        """The newest mail to ``to`` whose subject contains ``subject_contains``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            matching = [m for m in self.messages(to) if subject_contains in m.subject]
            if matching:
                return matching[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no mail to {to} with {subject_contains!r} in its subject within {timeout}s")
            time.sleep(0.05)


def _parse(message: mailbox.MaildirMessage) -> EmailMessage:
    from email import message_from_bytes

    parsed = message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def iter_mail(maildir: Path) -> Iterator[str]:
    """The raw text of every stored mail (for scans of what left the platform)."""
    if not maildir.exists():
        return
    for message in mailbox.Maildir(maildir, create=False):
        yield message.as_bytes().decode("utf-8", "replace")


def main() -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    maildir, port = Path(sys.argv[1]), int(sys.argv[2])
    for sub in ("tmp", "new", "cur"):  # the Maildir layout the handler writes into
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"SMTP sink listening on 127.0.0.1:{port}, storing mail in {maildir}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        loop.run_until_complete(stop.wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
