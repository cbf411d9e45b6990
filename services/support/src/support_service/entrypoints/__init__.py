"""The support service's processes."""
