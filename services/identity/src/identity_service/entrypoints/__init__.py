"""The identity service's processes."""
