"""Open /ws sockets across every edge, for AdminService's health figure, in any role and with any number of edge
replicas.

An edge holds no database, so it reports its count to a core: every few seconds while it has sockets open, and as
soon as the count changes, it calls SystemService.Readiness with the count and its process's id in metadata
(edge/socket_report.py). The core keeps the last report of each edge process in `edge_sockets` (migration 0016),
and the figure is the sum of the reports younger than REPORT_TTL_S: an edge that stops reporting (stopped, or
killed) drops out on its own. Reports are believed only from the peers trusted to speak for clients
(ASTRA_TRUSTED_PROXIES: the edges), as x-forwarded-for is.
"""

from __future__ import annotations

import logging
import re

import grpc
from psycopg import AsyncConnection

from contract.metadata import EDGE_INSTANCE, WS_SOCKETS
from server.db.database import Database
from server.interceptors.base import metadata_value
from server.interceptors.peers import TrustedPeers, peer_address

log = logging.getLogger(__name__)

# Edges refresh every 5 s while sockets are open: three missed reports and an edge no longer counts.
REPORT_TTL_S = 15
_INSTANCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_COUNT = re.compile(r"[0-9]{1,9}")

# The report, and reports that no longer count dropped on the way (a handful of rows: one per edge process).
_RECORD = (
    "WITH gone AS (DELETE FROM edge_sockets"
    "  WHERE reported_at < now() - make_interval(secs => %(ttl)s) AND instance_id <> %(id)s)"
    " INSERT INTO edge_sockets (instance_id, sockets) VALUES (%(id)s, %(sockets)s)"
    " ON CONFLICT (instance_id) DO UPDATE SET sockets = EXCLUDED.sockets, reported_at = now()"
)


async def open_sockets(conn: AsyncConnection) -> int:
    """The open /ws sockets of every edge that reported lately."""
    cur = await conn.execute(
        "SELECT coalesce(sum(sockets), 0) AS open FROM edge_sockets"
        " WHERE reported_at >= now() - make_interval(secs => %s)",
        (REPORT_TTL_S,),
    )
    row = await cur.fetchone()
    return int(row["open"]) if row else 0


class SocketReports:
    def __init__(self, db: Database, trusted_proxies: tuple[str, ...]):
        self.db = db
        self.edges = TrustedPeers(trusted_proxies)

    async def note(self, context: grpc.aio.ServicerContext) -> None:
        """Stores the report a call carries, if any and if its peer is an edge; never fails the call."""
        instance, count = metadata_value(context, EDGE_INSTANCE), metadata_value(context, WS_SOCKETS)
        if not instance and not count:
            return  # the common case: a readiness probe
        if not (_INSTANCE.fullmatch(instance) and _COUNT.fullmatch(count)):
            return
        if peer_address(context.peer()) not in self.edges:
            log.warning("socket report from an untrusted peer ignored", extra={"peer": context.peer()})
            return
        try:
            async with self.db.connection() as conn:
                await conn.execute(_RECORD, {"id": instance, "sockets": int(count), "ttl": REPORT_TTL_S})
        except Exception as exc:  # the figure is advisory; the edge reports again shortly
            log.warning("socket report not stored", extra={"error": str(exc)})
