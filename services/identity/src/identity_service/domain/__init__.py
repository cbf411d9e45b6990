"""The identity domain: plain Python, no database, gRPC or Kafka."""
