"""The gateway's calls to the support service's MaintenanceService (clients/calls.py turns a
refusal into the public error). The public list travels with the gateway's own service
principal; staff calls with the request's."""

from __future__ import annotations

from collections.abc import Callable

from grpc import aio

from cloudplatform.support.v1 import maintenance_service_pb2 as pb
from cloudplatform.support.v1 import maintenance_service_pb2_grpc as pb_grpc
from gateway_service.clients.calls import backend_call

BACKEND = "support"


class MaintenanceClient:
    def __init__(self, channel: Callable[[], aio.Channel]) -> None:
        self._channel = channel

    def _windows(self) -> pb_grpc.MaintenanceServiceAsyncStub:
        return pb_grpc.MaintenanceServiceStub(self._channel())

    async def create(self, request: pb.CreateMaintenanceWindowRequest) -> pb.MaintenanceWindow:
        return (await backend_call(BACKEND, self._windows().CreateMaintenanceWindow(request))).maintenance_window

    async def update(self, request: pb.UpdateMaintenanceWindowRequest) -> pb.MaintenanceWindow:
        return (await backend_call(BACKEND, self._windows().UpdateMaintenanceWindow(request))).maintenance_window

    async def cancel(self, window_id: int) -> pb.MaintenanceWindow:
        request = pb.CancelMaintenanceWindowRequest(maintenance_window_id=window_id)
        return (await backend_call(BACKEND, self._windows().CancelMaintenanceWindow(request))).maintenance_window

    async def get(self, window_id: int) -> pb.MaintenanceWindow:
        request = pb.GetMaintenanceWindowRequest(maintenance_window_id=window_id)
        return (await backend_call(BACKEND, self._windows().GetMaintenanceWindow(request))).maintenance_window

    async def search(self, request: pb.ListMaintenanceWindowsRequest) -> pb.ListMaintenanceWindowsResponse:
        return await backend_call(BACKEND, self._windows().ListMaintenanceWindows(request))
