"""The event backbone: envelope, registry, transactional outbox and relay, projections.

One implementation, used by every service:
- a handler records events through its unit of work; they are written to the service's
  ``outbox`` table in the same transaction as the state change (no dual write);
- the relay publishes unpublished outbox rows to Kafka (idempotent producer, acks=all);
- a projection applies a batch of events in one transaction together with its ``inbox``
  rows, so a redelivered event is skipped; a poison event is dead-lettered.
"""
