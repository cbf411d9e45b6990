"""The network service's processes."""
