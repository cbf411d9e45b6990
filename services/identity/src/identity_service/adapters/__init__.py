"""The identity service's adapters: tables, repositories, the gRPC servicer."""
