"""The gateway's calls to the support service's TicketService. Each call carries the request's
principal (the channel sends it on); support checks the view and the tenant again from it, and a
refusal raises the public error of the same meaning (clients/calls.py)."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.support.v1 import ticket_service_pb2 as pb
from cloudplatform.support.v1 import ticket_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "support"


class TicketClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _tickets(self) -> pb_grpc.TicketServiceAsyncStub:
        return pb_grpc.TicketServiceStub(self._channel())

    async def open(self, request: pb.OpenTicketRequest) -> pb.OpenTicketResponse:
        return await backend_call(BACKEND, self._tickets().OpenTicket(request))

    async def search(self, request: pb.ListTicketsRequest) -> pb.ListTicketsResponse:
        return await backend_call(BACKEND, self._tickets().ListTickets(request))

    async def get(self, ticket_id: int, organization_id: int, *, staff_view: bool) -> pb.Ticket:
        request = pb.GetTicketRequest(ticket_id=ticket_id, organization_id=organization_id, staff_view=staff_view)
        return (await backend_call(BACKEND, self._tickets().GetTicket(request))).ticket

    async def messages(self, ticket_id: int, organization_id: int, *, staff_view: bool) -> list[pb.TicketMessage]:
        request = pb.ListTicketMessagesRequest(
            ticket_id=ticket_id, organization_id=organization_id, staff_view=staff_view
        )
        return list((await backend_call(BACKEND, self._tickets().ListTicketMessages(request))).messages)

    async def add_message(self, request: pb.AddTicketMessageRequest) -> pb.AddTicketMessageResponse:
        return await backend_call(BACKEND, self._tickets().AddTicketMessage(request))

    async def attachment(
        self, ticket_id: int, attachment_id: int, organization_id: int, *, staff_view: bool
    ) -> pb.GetTicketAttachmentResponse:
        request = pb.GetTicketAttachmentRequest(
            ticket_id=ticket_id, attachment_id=attachment_id, organization_id=organization_id, staff_view=staff_view
        )
        return await backend_call(BACKEND, self._tickets().GetTicketAttachment(request))

    async def close(self, ticket_id: int, organization_id: int, *, staff_view: bool) -> pb.Ticket:
        request = pb.CloseTicketRequest(ticket_id=ticket_id, organization_id=organization_id, staff_view=staff_view)
        return (await backend_call(BACKEND, self._tickets().CloseTicket(request))).ticket

    async def reopen(self, ticket_id: int, organization_id: int, *, staff_view: bool) -> pb.Ticket:
        request = pb.ReopenTicketRequest(ticket_id=ticket_id, organization_id=organization_id, staff_view=staff_view)
        return (await backend_call(BACKEND, self._tickets().ReopenTicket(request))).ticket

    async def rate(self, ticket_id: int, organization_id: int, rating: int) -> pb.Ticket:
        request = pb.RateTicketRequest(ticket_id=ticket_id, organization_id=organization_id, rating=rating)
        return (await backend_call(BACKEND, self._tickets().RateTicket(request))).ticket

    async def assign(self, ticket_id: int, assigned_to: int) -> pb.Ticket:
        request = pb.AssignTicketRequest(ticket_id=ticket_id, assigned_to=assigned_to)
        return (await backend_call(BACKEND, self._tickets().AssignTicket(request))).ticket

    async def set_status(self, ticket_id: int, status: str) -> pb.Ticket:
        request = pb.SetTicketStatusRequest(ticket_id=ticket_id, status=status)
        return (await backend_call(BACKEND, self._tickets().SetTicketStatus(request))).ticket
