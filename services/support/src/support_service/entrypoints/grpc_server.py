"""The support service's gRPC server process: the TicketService, MaintenanceService and
NotificationService, and the keeper (entrypoints/keeper.py) and the sender of mail and webhooks
(entrypoints/mail_sender.py) running beside it."""

from __future__ import annotations

from pathlib import Path

from grpc import aio

from cpshared.grpc.server import Registrar
from cpshared.runtime import run_grpc_service
from support_service import SERVICE_NAME, __version__
from support_service.adapters.monitoring_channels import MonitoringChannelSources
from support_service.adapters.recipients import IdentityRecipients
from support_service.adapters.webhooks import HttpWebhooks
from support_service.bootstrap import Support, bootstrap
from support_service.config import Settings
from support_service.entrypoints import keeper, mail_sender
from support_service.entrypoints.maintenance_servicer import add_maintenance_servicer
from support_service.entrypoints.notification_servicer import add_notification_servicer
from support_service.entrypoints.ticket_servicer import add_ticket_servicer

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register(settings: Settings) -> Registrar:
    support = bootstrap(settings)
    keeper.start(support, every_seconds=settings.keeper_seconds)
    if isinstance(support.accounts, IdentityRecipients):
        recipients = support.accounts
        sources = (
            MonitoringChannelSources(settings.monitoring_grpc_addr, settings.principal_service_key_file)
            if settings.monitoring_grpc_addr
            else None
        )
        post = HttpWebhooks(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_internal=settings.webhook_allow_internal_targets,
        )
        mail_sender.start(
            support,
            recipients,
            settings,
            settings.retry_policy(),
            every_seconds=settings.mail_sender_seconds,
            post=post,
            sources=sources,
        )
    return lambda server: add_servicers(server, support)


def add_servicers(server: aio.Server, support: Support) -> list[str]:
    """Every gRPC service support answers, on ``server``; their full names."""
    return (
        add_ticket_servicer(server, support)
        + add_maintenance_servicer(server, support)
        + add_notification_servicer(server, support)
    )


def main() -> None:
    run_grpc_service(
        service=SERVICE_NAME,
        version=__version__,
        migrations_dir=MIGRATIONS,
        settings_cls=Settings,
        register=register,
    )


if __name__ == "__main__":
    main()
