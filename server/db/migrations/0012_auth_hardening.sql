-- Login attempts are reserved before the password is checked and given back on success (server/auth/throttle.py):
-- the reservation is a login_failures row, given back by its id.
ALTER TABLE login_failures ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

-- Refresh-token families revoked because a rotated token was presented again: the access tokens issued with the
-- family (claim fam) are refused until expires_at, by when every one of them has expired anyway.
CREATE TABLE revoked_families (
    family_id  text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_families_user_idx ON revoked_families (user_id, expires_at);

-- The revoked families ride the cached membership row (server/auth/cache.py): every replica drops the user's
-- rows at commit (migration 0009's function).
CREATE TRIGGER revoked_families_auth_change
    AFTER INSERT ON revoked_families
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change('user_id');
