-- Invitations to join a workspace (server/workspaces/invitations.py). Adding someone who is not yet a member
-- sends one, which the invitee accepts or declines; the inviter is never told whether an email has an account.
CREATE TABLE workspace_invitations (
    id              text PRIMARY KEY,
    workspace_id    text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- Whom it is for, as the inviter named them: a lower-cased email or a user id, exactly one. No foreign key on
    -- the user id: an id that names no account is invited like any other, so the answer cannot tell them apart.
    invitee_email   text CHECK (invitee_email = lower(invitee_email)),
    invitee_user_id text,
    role            text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'accepted', 'declined', 'revoked')),
    invited_by      text REFERENCES users (id) ON DELETE SET NULL,
    -- When it was sent, or last sent again (which also moves expires_at).
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    responded_at    timestamptz,
    CHECK ((invitee_email IS NULL) <> (invitee_user_id IS NULL))
);
-- One pending invitation per workspace and invitee: inviting again refreshes it (INSERT ... ON CONFLICT).
-- Emails hold an @ and user ids never do, so one expression covers both kinds.
CREATE UNIQUE INDEX workspace_invitations_pending_key
    ON workspace_invitations (workspace_id, (coalesce(invitee_email, invitee_user_id))) WHERE status = 'pending';
-- The invitee's own list, matched by account id or email.
CREATE INDEX workspace_invitations_email_idx ON workspace_invitations (invitee_email) WHERE status = 'pending';
CREATE INDEX workspace_invitations_user_idx ON workspace_invitations (invitee_user_id) WHERE status = 'pending';
-- The workspace's list, keyset-paged on (created_at, id).
CREATE INDEX workspace_invitations_workspace_idx
    ON workspace_invitations (workspace_id, created_at, id) WHERE status = 'pending';
