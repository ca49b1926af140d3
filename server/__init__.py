"""Astra's gRPC core: every domain as a grpc.aio service on PostgreSQL."""

__version__ = "0.1.0"
