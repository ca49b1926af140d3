-- Each replica caches the membership row that authenticates a call (server/auth/cache.py). These triggers tell
-- every replica, at commit, whose row changed: a revocation or a lost role must not outlive the transaction.
-- Additions need no notice: only rows granting a role are cached.
CREATE FUNCTION notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'astra_auth',
        (CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END) ->> TG_ARGV[0]
    );
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_auth_change
    AFTER UPDATE OF tokens_valid_after, personal_workspace_id OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change('id');

CREATE TRIGGER workspace_members_auth_change
    AFTER UPDATE OR DELETE ON workspace_members
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change('user_id');
