"""``Idempotency-Key`` on POST (DESIGN.md section 4): a retried request is answered once."""
