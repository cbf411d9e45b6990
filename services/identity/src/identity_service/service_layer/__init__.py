"""The identity service's use cases and its unit of work."""
