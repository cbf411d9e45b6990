"""The gateway's processes."""
