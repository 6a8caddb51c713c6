"""account-service: the HTTP/gRPC probe target."""
