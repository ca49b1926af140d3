-- Closing what a crash left in flight (server/chat/recovery.py, server/db/lease.py).
--
-- Each running gateway process is an instance: it holds an advisory lock keyed by its id while it lives, and
-- leased_at says when it last took that lock (after a database restart, a live instance takes it again).
CREATE TABLE gateway_instances (
    id        text PRIMARY KEY,
    leased_at timestamptz NOT NULL DEFAULT now()
);

-- A chat turn between its user message and its reply: written with the user message (same round trip), deleted
-- in the transaction that stores the reply. A row whose instance is gone is a turn cut off by a crash. No foreign
-- keys: the turn's own path must not gain a way to fail, and recovery copes with a session deleted meanwhile.
CREATE TABLE turns_in_flight (
    turn_id      text PRIMARY KEY,
    instance_id  text NOT NULL,
    session_id   text NOT NULL,
    user_id      text NOT NULL,
    workspace_id text NOT NULL,
    agent_id     text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX turns_in_flight_instance_idx ON turns_in_flight (instance_id);

-- The instance running an Idempotency-Key's request, so a key held by a dead instance can be released (its retry
-- runs again instead of answering 409 for a day).
ALTER TABLE idempotency_keys ADD COLUMN instance_id text;
CREATE INDEX idempotency_keys_running_idx ON idempotency_keys (instance_id) WHERE state = 'running';
