"""The audit service's processes."""
