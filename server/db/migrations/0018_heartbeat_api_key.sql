-- The personal API key (server/auth/keys.py) that created or last changed a heartbeat config; NULL when an access
-- token did (the user owns it). A run on such a config acts on the key's authority: it stops once the key is
-- revoked or expired, fails while the key's budget is spent, and its agent turns are spent with the key
-- (server/heartbeat/runner.py). Keys are only ever deleted with their user or workspace, which take the config
-- with them anyway; CASCADE keeps it so should that change: a config never outlives its key to run unbudgeted.
ALTER TABLE heartbeats ADD COLUMN api_key_id text REFERENCES api_keys (id) ON DELETE CASCADE;
CREATE INDEX heartbeats_api_key_idx ON heartbeats (api_key_id) WHERE api_key_id IS NOT NULL;
