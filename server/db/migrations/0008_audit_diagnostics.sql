-- Audit log (append-only, hash-chained) and stored diagnostic runs.

CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL,
    -- A user id, 'api-key' or 'anonymous' (a failed login for an unknown email).
    actor          text NOT NULL,
    action         text NOT NULL,
    -- Whose trail the entry belongs to (the actor or the affected user); no foreign key: the trail outlives users.
    target_user_id text,
    -- What was acted on: an agent id, ws_..., usr_...
    target         text NOT NULL DEFAULT '',
    workspace_id   text,
    request_id     text NOT NULL DEFAULT '',
    details        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- hash = sha256(prev_hash || canonical JSON of the entry); the first entry's prev_hash is 64 zeros.
    prev_hash      text NOT NULL,
    hash           text NOT NULL UNIQUE
);
CREATE INDEX audit_log_target_user_idx ON audit_log (target_user_id, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id DESC);

-- Append-only for the application: rows can be neither changed nor removed without disabling this trigger,
-- and anyone who does so still cannot forge the chain (diagnostics' security.audit_chain finds the edit).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE diagnostic_runs (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('full', 'quick')),
    status      text NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    started_at  timestamptz NOT NULL,
    -- The DiagnosticRun message as proto JSON.
    run         jsonb NOT NULL
);
CREATE INDEX diagnostic_runs_started_idx ON diagnostic_runs (started_at DESC);
