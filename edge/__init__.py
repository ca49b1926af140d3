"""Astra's HTTP edge: REST, SSE and /ws transcoded onto the gRPC core from the contract's annotations."""
