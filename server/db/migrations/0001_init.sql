-- Foundation: pgvector, accounts, workspaces and membership, refresh tokens, login throttling.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE users (
    id                 text PRIMARY KEY,
    email              text NOT NULL,
    password_hash      text NOT NULL,
    display_name       text NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Logout: access tokens issued before this instant are refused.
    tokens_valid_after double precision NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE workspaces (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    plan       text NOT NULL DEFAULT 'free',
    personal   boolean NOT NULL DEFAULT false,
    settings   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by text REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_members (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id);

CREATE TABLE refresh_tokens (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Every token descending from one login shares a family; reuse of a rotated token revokes it all.
    family_id   text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Failed logins, counted per account and per client address over a sliding window.
CREATE TABLE login_failures (
    key       text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);

-- Set at registration, in the same transaction as the workspace; selects the workspace when no
-- x-workspace-id is sent.
ALTER TABLE users ADD COLUMN personal_workspace_id text REFERENCES workspaces (id) ON DELETE SET NULL;
