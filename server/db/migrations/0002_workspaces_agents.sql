-- Workspaces' restrictions, agents with their config history, cross-workspace grants, and the chat tables
-- that workspace stats aggregate (sessions, messages, usage, tool calls).

-- NULL means "no restriction" for that list.
ALTER TABLE workspaces ADD COLUMN allowed_providers text[];
ALTER TABLE workspaces ADD COLUMN allowed_models text[];

CREATE TABLE agents (
    id           text PRIMARY KEY,
    -- NULL for global agents loaded from ASTRA_AGENTS_FILE.
    workspace_id text REFERENCES workspaces (id) ON DELETE CASCADE,
    model        text NOT NULL,
    -- The rest of the Agent message as proto JSON; the columns above are what SQL filters on.
    config       jsonb NOT NULL,
    version      integer NOT NULL DEFAULT 1,
    created_by   text REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_workspace_idx ON agents (workspace_id, id);

CREATE TABLE agent_versions (
    agent_id   text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    version    integer NOT NULL,
    model      text NOT NULL,
    config     jsonb NOT NULL,
    changed_by text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, version)
);

CREATE TABLE agent_grants (
    granting_workspace_id  text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    receiving_workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    agent_id               text NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    readonly               boolean NOT NULL DEFAULT true,
    -- Expired grants are ignored, not deleted, so their history stays visible.
    expires_at             timestamptz,
    created_by             text REFERENCES users (id) ON DELETE SET NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (receiving_workspace_id, agent_id)
);
CREATE INDEX agent_grants_granting_idx ON agent_grants (granting_workspace_id);

CREATE TABLE sessions (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The agent answering now (a handoff changes it) and the one the session was opened with (its key).
    agent_id         text NOT NULL,
    origin_agent_id  text NOT NULL,
    surface          text NOT NULL DEFAULT 'api',
    surface_id       text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    message_count    integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now(),
    archived_at      timestamptz
);
-- One active session per (user, workspace, agent, surface, surface id).
CREATE UNIQUE INDEX sessions_active_key ON sessions (user_id, workspace_id, origin_agent_id, surface, surface_id)
    WHERE status = 'active';
CREATE INDEX sessions_workspace_idx ON sessions (workspace_id, created_at);
CREATE INDEX sessions_user_idx ON sessions (user_id, workspace_id, last_activity_at DESC, id);

CREATE TABLE messages (
    id           text PRIMARY KEY,
    -- Insertion order: the messages of one turn share a transaction, and so a created_at.
    seq          bigserial NOT NULL UNIQUE,
    session_id   text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    role         text NOT NULL CHECK (role IN ('user', 'assistant', 'tool', 'system')),
    content      text NOT NULL DEFAULT '',
    agent_id     text,
    tool_calls   jsonb,
    tool_call_id text,
    tool_name    text,
    -- Assistant messages: what the turn cost, and why it stopped early if it did.
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd          numeric(14, 6) NOT NULL DEFAULT 0,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    tsv          tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);
CREATE INDEX messages_session_idx ON messages (session_id, seq);
CREATE INDEX messages_tsv_idx ON messages USING gin (tsv);

CREATE TABLE usage_records (
    id                text PRIMARY KEY,
    workspace_id      text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id           text REFERENCES users (id) ON DELETE SET NULL,
    agent_id          text NOT NULL,
    session_id        text REFERENCES sessions (id) ON DELETE SET NULL,
    provider          text NOT NULL,
    model             text NOT NULL,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd          numeric(14, 6) NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_workspace_idx ON usage_records (workspace_id, created_at);

CREATE TABLE tool_calls (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    session_id   text REFERENCES sessions (id) ON DELETE SET NULL,
    agent_id     text NOT NULL,
    tool         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('ok', 'error')),
    duration_ms  double precision NOT NULL DEFAULT 0,
    cost_usd     numeric(14, 6) NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tool_calls_workspace_idx ON tool_calls (workspace_id, created_at);
