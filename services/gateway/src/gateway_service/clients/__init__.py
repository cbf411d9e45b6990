"""Clients of the backend services' gRPC APIs, one module per area."""
