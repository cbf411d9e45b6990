"""The public ``/v1`` routes, one module per resource family."""
