-- Memory (DESIGN.md §6): every searchable piece of a user's memory in a workspace is one memory_items row:
-- Tier 1 session messages (copied by a trigger), Tier 2 daily entries, Tier 3 profile keys, strategic notes.
-- The embedding is filled in later by the memory_indexer worker; until then full-text search finds the row.
-- The dimension (384, all-MiniLM-L6-v2) is part of the schema: a model of another dimension needs a new
-- migration (add a column and HNSW index of the new size, re-embed, drop the old one).

CREATE TABLE memory_items (
    id             text PRIMARY KEY,
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id   text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    tier           text NOT NULL CHECK (tier IN ('session', 'daily', 'profile', 'notes')),
    -- session: the message (deleting it deletes the item) and its session.
    message_id     text REFERENCES messages (id) ON DELETE CASCADE,
    session_id     text,
    -- daily: the day and the entry's stable index within it.
    day            date,
    idx            integer,
    category       text CHECK (category IN ('decision', 'outcome', 'strategy', 'note', 'interaction')),
    weight         real,
    -- profile: the top-level key this item renders.
    profile_key    text,
    content        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    embedding      vector(384),
    embed_attempts integer NOT NULL DEFAULT 0,
    tsv            tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED
);
CREATE INDEX memory_items_owner_idx ON memory_items (user_id, workspace_id, tier, created_at);
CREATE UNIQUE INDEX memory_items_daily_key ON memory_items (user_id, workspace_id, day, idx) WHERE tier = 'daily';
CREATE UNIQUE INDEX memory_items_profile_key ON memory_items (user_id, workspace_id, profile_key)
    WHERE tier = 'profile';
CREATE UNIQUE INDEX memory_items_message_key ON memory_items (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX memory_items_tsv_idx ON memory_items USING gin (tsv);
CREATE INDEX memory_items_embedding_idx ON memory_items USING hnsw (embedding vector_cosine_ops)
    WITH (m = 16, ef_construction = 64);
-- What the indexer claims: rows still waiting for an embedding.
CREATE INDEX memory_items_pending_idx ON memory_items (created_at) WHERE embedding IS NULL;

-- Tier 3: one JSON object per user and workspace.
CREATE TABLE memory_profiles (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    profile      jsonb NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, workspace_id)
);

-- Daily entry indexes are never reused within a day: the next index comes from this counter.
CREATE TABLE memory_day_counters (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    day          date NOT NULL,
    next_index   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, workspace_id, day)
);

-- Tier 1: user and assistant messages with text become memory items as they are stored.
CREATE FUNCTION memory_items_from_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.role IN ('user', 'assistant') AND length(btrim(NEW.content)) > 0 THEN
        INSERT INTO memory_items (id, user_id, workspace_id, tier, message_id, session_id, content, created_at)
        SELECT 'mem_' || NEW.id, s.user_id, s.workspace_id, 'session', NEW.id, NEW.session_id, NEW.content,
               NEW.created_at
        FROM sessions s WHERE s.id = NEW.session_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_to_memory AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION memory_items_from_message();

-- Messages stored before this migration become memory items too (the indexer embeds them in the background).
INSERT INTO memory_items (id, user_id, workspace_id, tier, message_id, session_id, content, created_at)
SELECT 'mem_' || m.id, s.user_id, s.workspace_id, 'session', m.id, m.session_id, m.content, m.created_at
FROM messages m JOIN sessions s ON s.id = m.session_id
WHERE m.role IN ('user', 'assistant') AND length(btrim(m.content)) > 0;
