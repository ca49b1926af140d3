-- MCP servers a workspace's owners and admins add (streamable HTTP only: stdio commands come from the operator's
-- ASTRA_MCP_SERVERS_FILE). Header values are secrets: sent to the server, shown once when created, never listed.
CREATE TABLE mcp_servers (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         text NOT NULL,
    url          text NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}',
    created_by   text REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

-- Each replica keeps a workspace's servers (server/mcp/hub.py); a change names the workspace at commit so every
-- replica reads them again (migration 0010's notify_row_change).
CREATE TRIGGER mcp_servers_cache_change
    AFTER INSERT OR UPDATE OR DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('astra_mcp_servers', 'workspace_id');
