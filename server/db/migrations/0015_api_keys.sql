-- Personal API keys (server/auth/keys.py): long-lived credentials that act as their owner in one workspace.
-- Only a SHA-256 hash of the secret is stored; the prefix is what lists show to tell keys apart. Revoked rows are
-- kept (their spend stays attributed); lists leave them out.
CREATE TABLE api_keys (
    id                      text PRIMARY KEY,
    user_id                 text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id            text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name                    text NOT NULL,
    prefix                  text NOT NULL,
    secret_hash             text NOT NULL UNIQUE,
    max_requests_per_minute integer NOT NULL DEFAULT 0 CHECK (max_requests_per_minute >= 0),
    max_cost_usd            numeric(14, 6) NOT NULL DEFAULT 0 CHECK (max_cost_usd >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    expires_at              timestamptz,
    revoked_at              timestamptz,
    last_used_at            timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at, id) WHERE revoked_at IS NULL;

-- Each replica caches the key rows that authenticate calls, grouped by secret hash: a revocation (or the key
-- going with its user or workspace) names the hash at commit, so no replica accepts the key after it. Writing
-- last_used_at sends nothing.
CREATE TRIGGER api_keys_cache_change
    AFTER UPDATE OF revoked_at OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('astra_api_keys', 'secret_hash');

-- The key a turn was run with, for /costs by key and the key's monthly budget.
ALTER TABLE usage_records ADD COLUMN api_key_id text REFERENCES api_keys (id) ON DELETE SET NULL;
CREATE INDEX usage_records_api_key_idx ON usage_records (api_key_id, created_at) WHERE api_key_id IS NOT NULL;
