-- Open /ws sockets per edge process, as each edge reports them every few seconds (server/system/sockets.py):
-- AdminService adds up the reports young enough to count, so an edge that stops reporting drops out on its own.
-- UNLOGGED: a figure of the last few seconds, written again by the next reports after a crash or failover.
CREATE UNLOGGED TABLE edge_sockets (
    instance_id text PRIMARY KEY,
    sockets     integer NOT NULL CHECK (sockets >= 0),
    reported_at timestamptz NOT NULL DEFAULT now()
);
