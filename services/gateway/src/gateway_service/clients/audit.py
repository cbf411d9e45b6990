"""The gateway's calls to the audit service's AuditService: audit log entries and sign-in
attempts. Each call carries the request's principal (the channel sends it on); audit decides
from it which tenants' entries the caller sees. A failed call raises the public error of the
same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.audit.v1 import audit_service_pb2 as pb
from cloudplatform.audit.v1 import audit_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "audit"


class AuditClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        # A callable, because the channel is opened in the app's lifespan, after wiring.
        self._channel = channel

    def _audit(self) -> pb_grpc.AuditServiceAsyncStub:
        return pb_grpc.AuditServiceStub(self._channel())

    async def list_audit_logs(self, request: pb.ListAuditLogsRequest) -> pb.ListAuditLogsResponse:
        return await backend_call(BACKEND, self._audit().ListAuditLogs(request))

    async def list_login_activity(self, user_id: int, page: int, per_page: int) -> pb.ListLoginActivityResponse:
        request = pb.ListLoginActivityRequest(user_id=user_id, page=page, per_page=per_page)
        return await backend_call(BACKEND, self._audit().ListLoginActivity(request))
