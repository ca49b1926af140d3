-- Chat: idempotent /agent/chat replies, presence across replicas, the per-user WebSocket rate limit.

CREATE TABLE idempotency_keys (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key          text NOT NULL,
    request_hash text NOT NULL,
    state        text NOT NULL CHECK (state IN ('running', 'done')),
    response     bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

CREATE TABLE presence (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id     text NOT NULL,
    state        text NOT NULL CHECK (state IN ('idle', 'thinking', 'calling_tool', 'streaming')),
    session_id   text,
    tool_name    text NOT NULL DEFAULT '',
    turn_id      text NOT NULL DEFAULT '',
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, workspace_id, agent_id)
);

CREATE TABLE rate_events (
    key text NOT NULL,
    at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_events_key_idx ON rate_events (key, at);
