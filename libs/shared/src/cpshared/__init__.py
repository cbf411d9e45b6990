"""Hand-written code shared by every Cloud Platform service.

Generated gRPC/protobuf contracts live in the ``cloudplatform.<service>.v1`` namespace;
everything in ``cpshared`` is written by hand.
"""

__version__ = "0.1.0"
