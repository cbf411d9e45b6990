"""Clients of the backend services, one module per area."""
