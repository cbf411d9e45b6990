"""Network's follower of compute's and identity's streams: what a deleted server leaves behind
in network, and what an account's suspension, reactivation or erasure does to its floating IPs
and private networks.

Run by the generic consumer as the process ``network-consumer`` (consumer group "network"):
``python -m cpshared.events.consumer_main network_service.entrypoints.server_projection:ServerProjection``.
Each event is applied in the transaction of its inbox row (cpshared.events.projection), so a
redelivered event finds its inbox row and changes nothing twice; the ``floating_ip.*`` events it
causes go to network's outbox in that same transaction.

- ``server.deleted``: the server's floating IPs are unassigned and it leaves its private
  networks, the firewalls applied to it one by one and the load balancers targeting it
  (upstream, deleting the server did that already);
- ``server.created``: the server's own IPv4 and IPv6 become primary IPs to adopt (``adopted``,
  ``auto_delete``; network's worker labels the upstream ones and records their addresses);
- ``server.deleted`` also deletes the server's ``auto_delete`` primary IPs and unassigns the others;
- ``server.created`` / ``server.updated``: the server's tenant and labels (server_labels), for
  the firewalls and load balancers' targets by label selector: that tenant's firewalls and load
  balancers with selectors become unsynced, and network's worker brings them in line upstream;
- ``user.suspended`` / ``user.banned``: the user's own floating IPs, primary IPs, networks, firewalls and load
  balancers are blocked (no action, no change until ``user.activated`` unblocks them);
- ``user.erased``: its floating IPs and primary IPs are deleted, protected or not (network's worker deletes them
  upstream and gives the quota back), and its networks likewise; its firewalls are deleted, applied
  or not (the worker's sweep deletes them upstream); its load balancers are deleted, protected or
  not (their delete actions delete them upstream and give the quota back), and its certificates.

It acts on resources network owns and keeps server_labels beside them (written in the same
transaction), so it declares no tables for a replay to rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from sqlalchemy.orm import Session

from cloudplatform.compute.v1 import events_pb2 as compute_pb
from cloudplatform.identity.v1 import events_pb2 as identity_pb
from cpshared.events.envelope import ReceivedEvent
from cpshared.events.outbox import write_events
from cpshared.events.projection import ApplyContext, Projection, handles
from cpshared.topics import COMPUTE_EVENTS, IDENTITY_EVENTS, Topic
from network_service.adapters.firewall_repository import FirewallRepository
from network_service.adapters.load_balancer_repository import CertificateRepository, LoadBalancerRepository
from network_service.adapters.network_repository import NetworkRepository
from network_service.adapters.primary_ip_repository import PrimaryIpRepository
from network_service.adapters.repository import ActionRepository, FloatingIpRepository
from network_service.service_layer import (
    certificates,
    firewalls,
    floating_ips,
    load_balancers,
    networks,
    primary_ips,
)


@contextmanager
def _session(ctx: ApplyContext) -> Iterator[Session]:
    """A session on the projection's transaction (it neither commits nor rolls back: the runner does)."""
    ctx.flush()
    session = Session(bind=ctx.conn, join_transaction_mode="rollback_only")
    try:
        yield session
    finally:
        session.close()


class ServerProjection(Projection):
    name = "network"
    topics: ClassVar[tuple[Topic, ...]] = (COMPUTE_EVENTS, IDENTITY_EVENTS)
    tables = ()

    @handles("server.created", "server.updated")
    def server_labelled(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerCreated | compute_pb.ServerUpdated)
        with _session(ctx) as session:
            firewalls.server_labelled(
                FirewallRepository(session),
                payload.server_id,
                payload.user_id,
                payload.organization_id or None,
                dict(payload.labels),
            )
            load_balancers.server_labelled(
                LoadBalancerRepository(session), payload.user_id, payload.organization_id or None
            )
            if isinstance(payload, compute_pb.ServerCreated):
                primary_ips.server_created(
                    PrimaryIpRepository(session),
                    ActionRepository(session),
                    payload.server_id,
                    payload.user_id,
                    payload.organization_id or None,
                    payload.datacenter,
                )

    @handles("server.deleted")
    def server_deleted(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, compute_pb.ServerDeleted)
        with _session(ctx) as session:
            write_events(ctx.conn, floating_ips.server_deleted(FloatingIpRepository(session), payload.server_id))
            write_events(
                ctx.conn,
                primary_ips.server_deleted(PrimaryIpRepository(session), ActionRepository(session), payload.server_id),
            )
            write_events(ctx.conn, networks.server_deleted(NetworkRepository(session), payload.server_id))
            write_events(ctx.conn, firewalls.server_deleted(FirewallRepository(session), payload.server_id))
            write_events(ctx.conn, load_balancers.server_deleted(LoadBalancerRepository(session), payload.server_id))
            FirewallRepository(session).server_forgotten(payload.server_id)

    @handles("user.suspended", "user.banned")
    def suspended(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        reason = "banned" if event.event_type == "user.banned" else "suspended"
        with _session(ctx) as session:
            write_events(
                ctx.conn, floating_ips.account_suspended(FloatingIpRepository(session), payload.user_id, reason)
            )
            write_events(ctx.conn, networks.account_suspended(NetworkRepository(session), payload.user_id, reason))
            write_events(ctx.conn, firewalls.account_suspended(FirewallRepository(session), payload.user_id, reason))
            write_events(ctx.conn, primary_ips.account_suspended(PrimaryIpRepository(session), payload.user_id, reason))
            write_events(
                ctx.conn, load_balancers.account_suspended(LoadBalancerRepository(session), payload.user_id, reason)
            )

    @handles("user.activated")
    def activated(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserStatusChanged)
        with _session(ctx) as session:
            write_events(ctx.conn, floating_ips.account_activated(FloatingIpRepository(session), payload.user_id))
            write_events(ctx.conn, networks.account_activated(NetworkRepository(session), payload.user_id))
            write_events(ctx.conn, firewalls.account_activated(FirewallRepository(session), payload.user_id))
            write_events(ctx.conn, primary_ips.account_activated(PrimaryIpRepository(session), payload.user_id))
            write_events(ctx.conn, load_balancers.account_activated(LoadBalancerRepository(session), payload.user_id))

    @handles("user.erased")
    def erased(self, ctx: ApplyContext, event: ReceivedEvent) -> None:
        payload = event.payload
        assert isinstance(payload, identity_pb.UserErased)
        with _session(ctx) as session:
            recorded = floating_ips.account_erased(
                FloatingIpRepository(session), ActionRepository(session), payload.user_id
            )
            write_events(ctx.conn, recorded)
            write_events(
                ctx.conn,
                networks.account_erased(NetworkRepository(session), ActionRepository(session), payload.user_id),
            )
            write_events(ctx.conn, firewalls.account_erased(FirewallRepository(session), payload.user_id))
            write_events(
                ctx.conn,
                primary_ips.account_erased(PrimaryIpRepository(session), ActionRepository(session), payload.user_id),
            )
            write_events(
                ctx.conn,
                load_balancers.account_erased(
                    LoadBalancerRepository(session), ActionRepository(session), payload.user_id
                ),
            )
            write_events(ctx.conn, certificates.account_erased(CertificateRepository(session), payload.user_id))
