"""Hetzner's JSON shapes that several routers answer, with their mapping from the backends' protobuf
messages. A router imports these and `api.common`, never another router."""
