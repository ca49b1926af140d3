-- Webhooks: subscriptions, and one row per delivery attempt. A 'pending' row is the outbox entry the
-- dispatcher claims (FOR UPDATE SKIP LOCKED); it becomes 'delivered' or 'failed' when the attempt is recorded,
-- and a failed attempt with retries left adds the next 'pending' row.
CREATE TABLE webhooks (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    url             text NOT NULL,
    events          text[] NOT NULL,
    description     text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    secret          text NOT NULL,
    disabled_reason text NOT NULL DEFAULT '',
    created_by      text REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_workspace_idx ON webhooks (workspace_id, created_at, id);

CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    event_type       text NOT NULL,
    attempt          integer NOT NULL DEFAULT 1,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    due_at           timestamptz NOT NULL DEFAULT now(),
    status_code      integer NOT NULL DEFAULT 0,
    latency_ms       double precision NOT NULL DEFAULT 0,
    response_excerpt text NOT NULL DEFAULT '',
    error            text NOT NULL DEFAULT '',
    next_retry_at    timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (due_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Fan-out in the event's own transaction: the outbox rows commit (or roll back) with their cause, every replica
-- sees them at once, and only webhooks already committed when the event is written receive it. Test dispatches
-- (webhook.test) are sent directly to the one webhook under test.
CREATE FUNCTION webhooks_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type)
    SELECT 'whd_' || replace(gen_random_uuid()::text, '-', ''), w.id, NEW.id, NEW.type
    FROM webhooks w
    WHERE w.workspace_id = NEW.workspace_id AND w.enabled AND (NEW.type = ANY (w.events) OR '*' = ANY (w.events));
    RETURN NULL;
END;
$$;
CREATE TRIGGER events_webhooks_fan_out AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.type <> 'webhook.test') EXECUTE FUNCTION webhooks_fan_out();

-- Heartbeat monitors. next_run_at is advanced when a run is claimed, so each due run happens once across replicas.
CREATE TABLE heartbeats (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type             text NOT NULL CHECK (type IN ('rss', 'http')),
    url              text NOT NULL,
    keywords         text[] NOT NULL DEFAULT '{}',
    method           text NOT NULL DEFAULT 'GET',
    expect_status    integer NOT NULL DEFAULT 200,
    expect_contains  text NOT NULL DEFAULT '',
    timeout_ms       integer NOT NULL DEFAULT 10000,
    interval_seconds integer NOT NULL,
    agent_id         text NOT NULL DEFAULT '',
    prompt           text NOT NULL DEFAULT '',
    enabled          boolean NOT NULL DEFAULT true,
    -- http: the last observed state, 'up' or 'down'.
    state            text NOT NULL DEFAULT 'up',
    last_run_at      timestamptz,
    next_run_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX heartbeats_workspace_idx ON heartbeats (workspace_id, created_at, id);
CREATE INDEX heartbeats_due_idx ON heartbeats (next_run_at) WHERE enabled;

CREATE TABLE heartbeat_runs (
    id           text PRIMARY KEY,
    heartbeat_id text NOT NULL REFERENCES heartbeats (id) ON DELETE CASCADE,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'fired', 'error')),
    items        jsonb NOT NULL DEFAULT '[]',
    status_code  integer NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT '',
    duration_ms  double precision NOT NULL DEFAULT 0,
    session_id   text NOT NULL DEFAULT ''
);
CREATE INDEX heartbeat_runs_heartbeat_idx ON heartbeat_runs (heartbeat_id, started_at DESC, id DESC);
CREATE INDEX heartbeat_runs_running_idx ON heartbeat_runs (heartbeat_id) WHERE status = 'running';

-- Feed items already seen per config (guid, else link), so only new items fire; pruned to the newest few thousand.
CREATE TABLE heartbeat_seen (
    heartbeat_id text NOT NULL REFERENCES heartbeats (id) ON DELETE CASCADE,
    item_key     text NOT NULL,
    seen_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (heartbeat_id, item_key)
);
