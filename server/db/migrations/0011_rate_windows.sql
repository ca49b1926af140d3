-- A sliding-window rate limit (server/chat/ratelimit.py) as one row per key holding the admitted events' times:
-- one statement counts, prunes and admits, serialised per key by the row lock of INSERT ... ON CONFLICT, so it
-- stays exact with any number of replicas. UNLOGGED: no WAL to wait for on the way to a turn's first token; a
-- Postgres crash or failover empties the windows, which only lets one window's worth of messages more through.
CREATE UNLOGGED TABLE rate_windows (
    key    text PRIMARY KEY,
    stamps timestamptz[] NOT NULL
);
INSERT INTO rate_windows (key, stamps)
SELECT key, array_agg(at ORDER BY at) FROM rate_events WHERE at > now() - interval '1 hour' GROUP BY key;
DROP TABLE rate_events;
