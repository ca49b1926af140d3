-- Domain events, written in the same transaction as their cause; background workers (webhook delivery)
-- read them from here, so an event is never lost between the cause and its delivery.
CREATE TABLE events (
    id           text PRIMARY KEY,
    seq          bigserial UNIQUE,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    type         text NOT NULL,
    -- The envelope sent to subscribers: {"type", "timestamp", "data"}.
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_workspace_idx ON events (workspace_id, seq);
