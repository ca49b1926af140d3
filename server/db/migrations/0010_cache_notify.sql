-- Each replica caches the agents a workspace may use and each workspace's restrictions and settings
-- (server/agents/cache.py, server/workspaces/cache.py). These triggers name, at commit, the agent or workspace
-- whose rows changed, so no replica serves a changed config, a revoked grant or a lifted restriction.
CREATE FUNCTION notify_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        TG_ARGV[0],
        (CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END) ->> TG_ARGV[1]
    );
    RETURN NULL;
END;
$$;

CREATE TRIGGER agents_cache_change
    AFTER UPDATE OR DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('astra_agents', 'id');

-- Inserts too: a grant written over an expired one changes what its receiver sees.
CREATE TRIGGER agent_grants_cache_change
    AFTER INSERT OR UPDATE OR DELETE ON agent_grants
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('astra_agents', 'agent_id');

CREATE TRIGGER workspaces_cache_change
    AFTER UPDATE OF allowed_providers, allowed_models, settings OR DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION notify_row_change('astra_workspaces', 'id');
