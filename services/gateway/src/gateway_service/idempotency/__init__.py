"""``Idempotency-Key`` on POST: a retried request is answered once."""
