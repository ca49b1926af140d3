"""Server interceptors, outermost first: request id, access log, metrics, error mapping, auth."""
