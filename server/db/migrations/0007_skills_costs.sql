-- The tool result cache and its counters, shared by every replica (a clear on one is a clear on all), and the
-- indexes the cost dashboard reads usage through.

CREATE TABLE tool_cache (
    tool       text NOT NULL,
    -- SHA-256 of the canonical JSON arguments (and the caller's scope for tools cached per user/workspace).
    key        text NOT NULL,
    value      text NOT NULL,
    bytes      integer NOT NULL,
    hits       bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tool, key)
);
CREATE INDEX tool_cache_expires_idx ON tool_cache (expires_at);

-- Hits and misses per tool since the last clear, spread over a few rows per tool so concurrent calls of one
-- popular tool do not queue on a single row lock; readers sum the shards.
CREATE TABLE tool_cache_counters (
    tool   text NOT NULL,
    shard  smallint NOT NULL,
    hits   bigint NOT NULL DEFAULT 0,
    misses bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tool, shard)
);

-- Tool calls are matched to their turn's usage by (session, transaction time): both are written in the turn's
-- one transaction, so created_at (now()) is identical.
CREATE INDEX tool_calls_session_idx ON tool_calls (session_id, created_at);
CREATE INDEX usage_records_session_idx ON usage_records (session_id, created_at);
