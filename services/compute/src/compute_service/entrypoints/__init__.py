"""The compute service's processes."""
