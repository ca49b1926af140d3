-- The text a streaming turn has said so far, written at most once a second (server/chat/progress.py), so a turn cut
-- off by a crash is closed with what it said (server/chat/recovery.py).
ALTER TABLE turns_in_flight ADD COLUMN partial text NOT NULL DEFAULT '';
