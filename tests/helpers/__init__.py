"""Helpers shared by test modules, one module per subject; fixtures stay in tests/conftest.py.

- accounts: registering accounts and the credentials they carry (bearer header, gRPC metadata)
- auth: logins, refreshes, token probes and forged tokens, the login throttle's answers
- http: one REST call through the edge, error codes, /metrics
- workspaces / agents: creating them, adding members
- chat: chat turns over REST, SSE and WebSocket, and the rows a turn leaves
- db: the embedded PostgreSQL and `sql` on a gateway's database
- waiting: bounded polling
- processes: `astra serve` as a child process
- heartbeat, tools: what those domains' tests share

The fake outside world stays beside them: tests/harness.py (the gateway in a thread), tests/fakes.py (fake
servicers), tests/receivers.py (webhook/feed receiver), tests/providers/fake_vendors.py (fake LLM vendors).
"""
