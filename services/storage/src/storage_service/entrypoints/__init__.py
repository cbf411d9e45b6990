"""The storage service's processes."""
