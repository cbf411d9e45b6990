"""Per-API-key (per-user for sessions) token buckets shared by every gateway replica (see rate_limit.store)."""
