"""Self-tests of a deployment, shared by GET /diagnostics and `astra doctor`."""
