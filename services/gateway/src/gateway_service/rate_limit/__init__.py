"""Per-API-key request budgets shared by every gateway replica (see rate_limit.store)."""
