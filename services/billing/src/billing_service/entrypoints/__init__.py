"""The billing service's processes."""
