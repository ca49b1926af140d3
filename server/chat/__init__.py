"""Chat: the agent turn, streamed over gRPC, SSE and WebSocket; idempotency, presence, rate limits."""
