"""The monitoring service's processes."""
